"""Check the token's TPM: ``python -m device_firmware.vault.tpm_check [--tcti TCTI]``.

Run it on the Pi after wiring the TPM board (docs/pi.md, "Checking the TPM"). It changes
nothing in the TPM: it says which chip answered, whether its dictionary-attack policy is
fixed (set by the token on its first start), how many failed PINs it counts now, and which
of the token's objects it holds, with the device ID of the identity.

Exit status: 0 when the TPM answers and its DA policy is fixed, 3 when it answers but the
token has not prepared it yet (start the token once), 1 when it cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from device_firmware.core import device_id
from device_firmware.core.errors import VaultError
from device_firmware.vault.tpm import DEFAULT_TCTI, Tpm


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Print the report (to `out`, default stdout); the exit status is in the docstring."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m device_firmware.vault.tpm_check",
        description="Check the TPM the token's vault uses (read only).",
    )
    parser.add_argument("--tcti", default=DEFAULT_TCTI, help=f"default {DEFAULT_TCTI}")
    args = parser.parse_args(argv)
    try:
        report = Tpm(args.tcti).report()
    except VaultError as exc:
        print(f"tpm_check: {exc}", file=sys.stderr)
        return 1
    lockout = report.lockout
    identity = device_id.format(device_id.make(report.identity)) if report.identity else "none yet"
    print(f"TPM:              {report.manufacturer.decode(errors='replace')} "
          f"{report.vendor.decode(errors='replace')} at {args.tcti}", file=out)  # fmt: skip
    print(f"DA policy fixed:  {'yes' if lockout.lockout_auth_set else 'NO'}", file=out)
    print(f"DA failures:      {lockout.failed_tries} of {lockout.max_tries}, one forgiven "
          f"every {lockout.recovery_seconds} s powered on", file=out)  # fmt: skip
    print(f"storage key:      {'yes' if report.storage_key else 'no'}", file=out)
    print(f"device identity:  {identity}", file=out)
    print(f"sealed vault key: {'yes' if report.sealed_key else 'no'}", file=out)
    return 0 if lockout.lockout_auth_set else 3


if __name__ == "__main__":
    sys.exit(main())

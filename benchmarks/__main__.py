"""`python -m benchmarks [NAME ...]`: run the benchmarks and print their reports."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Callable

import structlog

from benchmarks import (
    audit_head,
    balancer,
    guessing,
    hsm_otp,
    rotation,
    signing,
    token,
    tpm_vault,
    verify_api,
)

SUITES: dict[str, Callable[[float], list[str]]] = {
    "hsm": hsm_otp.run,
    "hsm-nss": hsm_otp.run_nss,
    "verify": verify_api.run,
    "signing": signing.run,
    "balancer": balancer.run,
    "rotation": rotation.run,
    "token": token.run,
    "token-tpm": tpm_vault.run,
    "guessing": guessing.run,
    "audit-head": audit_head.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *SUITES], help="which (default: all)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timed round")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    names = args.names or list(SUITES)
    if len(names) > 1:
        # One process per suite: each makes its own SoftHSM token, and the PKCS#11 module
        # reads its configuration only once per process.
        failed = 0
        for name in names:
            failed |= subprocess.run(
                [sys.executable, "-m", "benchmarks", name, "--seconds", str(args.seconds)],
                check=False,
            ).returncode
        sys.exit(failed)
    [name] = names
    print(f"== {name}", flush=True)
    for line in SUITES[name](args.seconds):
        print(line, flush=True)


if __name__ == "__main__":
    main()

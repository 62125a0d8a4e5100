"""Run the token in a terminal: ``python -m device_firmware.emulator [options]``.

Options: ``--server URL`` talks to a real bank (docs/protocol.md; without it, the demo bank in
memory) and then needs ``--provisioning-key KEY`` (the bank's provisioning public key in
base64url, or its SHA-256 fingerprint in hex: ``otp-hsm provisioning-key [--fingerprint]``
prints them; `make token` passes it) or, for development only, ``--dev-trust-on-first-use``
(pin whatever key the bank shows first; the screens say so). ``--dir DIR`` is the vault
directory, ``--attempts N`` the wrong PINs allowed, ``--capture DIR`` also writes every frame
as a PNG (as the Pi's OLED draws it). ``--tpm TCTI`` keeps the vault in a TPM instead of the
weaker file vault, and ``--swtpm DIR`` in a software TPM (Debian's swtpm) whose state is DIR.

Keys: 0-9 * # A-D as on the keypad (Enter = #, Backspace = *, Esc = C); q = quit. With the
demo bank, m = mailbox and p = bank portal; demo customers: ana / clave1 (her bank has
enabled transaction signing: D types the decimal point of an amount), beto / s3cret.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from device_firmware.core.errors import TokenError
from device_firmware.core.ports import Display, ServerLink
from device_firmware.core.token import TICK_INTERVAL
from device_firmware.emulator.session import EmulatorSession
from device_firmware.emulator.terminal import TerminalKeypad, cbreak
from device_firmware.emulator.text_frame import TextDisplay
from device_firmware.link.pinning import ProvisioningTrust
from device_firmware.pi.clock import SystemClock
from device_firmware.vault import FileVault

if TYPE_CHECKING:
    from device_firmware.vault.tpm_vault import TpmVault


class CannotStart(Exception):
    """Something the emulator needs is missing or wrong (the message says what)."""


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run until q; 1 when the link, vault or fonts cannot be had."""
    parser = argparse.ArgumentParser(prog="python -m device_firmware.emulator")
    parser.add_argument("--dir", type=Path, default=Path("var/token"), help="vault directory")
    parser.add_argument("--attempts", type=int, default=1, help="wrong PINs allowed")
    parser.add_argument("--server", metavar="URL", help="the bank's URL (default: demo bank)")
    parser.add_argument(
        "--provisioning-key",
        metavar="KEY",
        help="with --server: the bank's provisioning key (base64url) or its SHA-256 fingerprint",
    )
    parser.add_argument(
        "--dev-trust-on-first-use",
        action="store_true",
        help="with --server, instead of --provisioning-key: pin the key the bank shows first "
        "(development only; the screens say so)",
    )
    parser.add_argument("--capture", type=Path, metavar="DIR", help="write each frame as PNG")
    tpm = parser.add_mutually_exclusive_group()
    tpm.add_argument(
        "--tpm",
        metavar="TCTI",
        help="keep the vault in this TPM (device:/dev/tpmrm0 on a Pi), not the weaker file vault",
    )
    tpm.add_argument(
        "--swtpm",
        type=Path,
        metavar="DIR",
        help="keep the vault in a software TPM (Debian's swtpm) whose state lives in DIR",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clock = SystemClock()
    with ExitStack() as stack:
        try:
            trust = _trust(args)
            vault = _vault(args, stack)
            link = _link(args.server, trust, clock, vault, stack)
            display = _display(args.capture)
        except (TokenError, CannotStart) as exc:  # TokenError: e.g. the vault directory
            print(f"emulator: {exc}", file=sys.stderr)
            return 1
        session = EmulatorSession(
            display=display,
            clock=clock,
            vault=vault,
            out=sys.stdout,
            link=link,
            trust_on_first_use=trust is not None and trust.first_use,
        )
        _run(session)
    return 0


def _vault(args: argparse.Namespace, stack: ExitStack) -> FileVault | TpmVault:
    """The file vault in --dir, or a TPM vault (--tpm, --swtpm) with its files in --dir.

    Raises:
        CannotStart: the software TPM does not start.
        VaultError: the TPM does not answer (or the directory cannot be used).
    """
    tcti = args.tpm
    if args.swtpm is not None:
        from device_firmware.emulator.software_tpm import SoftwareTpm

        software = SoftwareTpm(args.swtpm)
        try:
            software.start()
        except RuntimeError as exc:
            raise CannotStart(str(exc)) from exc
        stack.callback(software.stop)
        tcti = software.tcti
    if tcti is None:
        return FileVault(args.dir, attempts_allowed=args.attempts)
    from device_firmware.vault.tpm import Tpm  # tpm2-pytss: the device extra
    from device_firmware.vault.tpm_vault import TpmVault

    return TpmVault(args.dir, Tpm(tcti), attempts_allowed=args.attempts)


def _trust(args: argparse.Namespace) -> ProvisioningTrust | None:
    """How the link trusts the bank's key, from the command line; None for the demo bank.

    Raises:
        CannotStart: a bank's URL without --provisioning-key or --dev-trust-on-first-use,
            both at once, or a key that is neither a P-256 point nor a fingerprint.
    """
    if args.server is None:
        return None
    if args.provisioning_key and args.dev_trust_on_first_use:
        raise CannotStart("--provisioning-key and --dev-trust-on-first-use exclude each other")
    if args.dev_trust_on_first_use:
        return ProvisioningTrust.on_first_use()
    if not args.provisioning_key:
        raise CannotStart(
            "--server needs the bank's provisioning key: --provisioning-key KEY (base64url, "
            "or its SHA-256 fingerprint; `otp-hsm provisioning-key` prints it at the bank), "
            "or --dev-trust-on-first-use for development only"
        )
    try:
        return ProvisioningTrust.parse(args.provisioning_key)
    except ValueError:
        raise CannotStart(
            "--provisioning-key is neither base64url of a P-256 point nor a SHA-256 "
            "fingerprint (64 hex digits)"
        ) from None


def _link(
    server: str | None,
    trust: ProvisioningTrust | None,
    clock: SystemClock,
    vault: FileVault | TpmVault,
    stack: ExitStack,
) -> ServerLink | None:
    if server is None:
        return None
    from device_firmware.link import HttpServerLink
    from device_firmware.pi.errors import LinkUnavailable
    from device_firmware.pi.link import make_link

    try:
        link = make_link(server, clock, vault, trust=trust)
    except LinkUnavailable as exc:
        raise CannotStart(str(exc)) from exc
    if isinstance(link, HttpServerLink):
        stack.callback(link.close)
    return link


def _display(capture: Path | None) -> Display:
    text = TextDisplay(sys.stdout, clear=sys.stdout.isatty())
    if capture is None:
        return text
    from device_firmware.emulator.capture import CapturingDisplay
    from device_firmware.pi.errors import FontsMissing
    from device_firmware.pi.fonts import load_fonts

    try:
        fonts = load_fonts()
    except FontsMissing as exc:
        raise CannotStart(str(exc)) from exc
    return CapturingDisplay(text, capture, fonts)


def _run(session: EmulatorSession) -> None:
    keypad = TerminalKeypad(sys.stdin)
    with cbreak(sys.stdin):
        session.start()
        while session.running:
            key = keypad.read_key(TICK_INTERVAL)
            if key is not None:
                session.token.handle(key)
            elif keypad.other:
                session.type(keypad.other.pop(0))
            else:
                session.tick()


if __name__ == "__main__":
    sys.exit(main())

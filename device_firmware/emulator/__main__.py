"""Run the token in a terminal: ``python -m device_firmware.emulator [options]``.

Options: ``--server URL`` talks to a real bank (docs/protocol.md; without it, the demo bank in
memory), ``--provisioning-key B64URL`` pins the bank's key from the command line instead of
at first contact, ``--dir DIR`` is the vault directory, ``--attempts N`` the wrong PINs
allowed, ``--capture DIR`` also writes every frame as a PNG (as the Pi's OLED draws it).

Keys: 0-9 * # A-D as on the keypad (Enter = #, Backspace = *, Esc = C); q = quit. With the
demo bank, m = mailbox and p = bank portal; demo customers: ana / clave1, beto / s3cret.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from device_firmware.core.errors import TokenError
from device_firmware.core.ports import Display, ServerLink
from device_firmware.core.token import TICK_INTERVAL
from device_firmware.emulator.session import EmulatorSession
from device_firmware.emulator.terminal import TerminalKeypad, cbreak
from device_firmware.emulator.text_frame import TextDisplay
from device_firmware.pi.clock import SystemClock
from device_firmware.vault import FileVault


class CannotStart(Exception):
    """Something the emulator needs is missing or wrong (the message says what)."""


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run until q; 1 when the link, vault or fonts cannot be had."""
    parser = argparse.ArgumentParser(prog="python -m device_firmware.emulator")
    parser.add_argument("--dir", type=Path, default=Path("var/token"), help="vault directory")
    parser.add_argument("--attempts", type=int, default=1, help="wrong PINs allowed")
    parser.add_argument("--server", metavar="URL", help="the bank's URL (default: demo bank)")
    parser.add_argument(
        "--provisioning-key", metavar="B64URL", help="the bank's provisioning key to pin"
    )
    parser.add_argument("--capture", type=Path, metavar="DIR", help="write each frame as PNG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clock = SystemClock()
    with ExitStack() as stack:
        try:
            vault = FileVault(args.dir, attempts_allowed=args.attempts)
            link = _link(args, clock, vault, stack)
            display = _display(args.capture)
        except (TokenError, CannotStart) as exc:  # TokenError: e.g. the vault directory
            print(f"emulator: {exc}", file=sys.stderr)
            return 1
        session = EmulatorSession(
            display=display, clock=clock, vault=vault, out=sys.stdout, link=link
        )
        _run(session)
    return 0


def _link(
    args: argparse.Namespace, clock: SystemClock, vault: FileVault, stack: ExitStack
) -> ServerLink | None:
    if args.server is None:
        return None
    from device_firmware.link import HttpServerLink, ProvisioningKey
    from device_firmware.pi.errors import LinkUnavailable
    from device_firmware.pi.link import make_link

    key = None
    if args.provisioning_key:
        try:
            key = ProvisioningKey.from_b64url(args.provisioning_key)
        except ValueError:
            raise CannotStart("--provisioning-key is not base64url of a P-256 point") from None
    try:
        link = make_link(args.server, clock, vault, provisioning_key=key)
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

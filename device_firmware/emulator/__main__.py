"""Run the token in a terminal: ``python -m device_firmware.emulator [--dir DIR]``.

Keys: 0-9 * # A-D as on the keypad (Enter = #, Backspace = *, Esc = C); m = mailbox,
p = bank portal, q = quit. Demo customers: ana / clave1, beto / s3cret.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from device_firmware.emulator.session import EmulatorSession
from device_firmware.emulator.terminal import SystemClock, TerminalKeypad, cbreak
from device_firmware.emulator.text_frame import TextDisplay
from device_firmware.vault import FileVault

TICK = 0.25


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run until q."""
    parser = argparse.ArgumentParser(prog="python -m device_firmware.emulator")
    parser.add_argument("--dir", type=Path, default=Path("var/token"), help="vault directory")
    parser.add_argument("--attempts", type=int, default=1, help="wrong PINs allowed")
    args = parser.parse_args(argv)
    session = EmulatorSession(
        display=TextDisplay(sys.stdout, clear=sys.stdout.isatty()),
        clock=SystemClock(),
        vault=FileVault(args.dir, attempts_allowed=args.attempts),
        out=sys.stdout,
    )
    keypad = TerminalKeypad(sys.stdin)
    with cbreak(sys.stdin):
        session.start()
        while session.running:
            key = keypad.read_key(TICK)
            if key is not None:
                session.token.handle(key)
            elif keypad.other:
                session.type(keypad.other.pop(0))
            else:
                session.tick()
    return 0


if __name__ == "__main__":
    sys.exit(main())

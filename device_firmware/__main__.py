"""Run the token: ``python -m device_firmware [--config PATH]`` or ``--emulator``.

On a Raspberry Pi (the systemd unit ``device_firmware/pi/otp-token.service`` runs this) the
keypad and the OLED are the ones `/etc/otp-token/config.toml` describes (see docs/pi.md).
``--emulator`` runs the same core in a terminal instead; the arguments after it go to the
emulator (``--server URL`` with ``--provisioning-key KEY`` or, for development only,
``--dev-trust-on-first-use``; ``--dir DIR``, ``--attempts N``, ``--capture DIR``; see
`device_firmware.emulator.__main__`). Without ``--server`` the emulator talks to the demo bank
in memory. ``--check-config`` reads the configuration, says
whether it is valid, and exits.

Exit status: 0 after a clean stop (SIGTERM, SIGINT), 2 for a bad configuration, 1 when
something the token needs is missing (fonts, display, keypad pins, the bank's link).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from device_firmware.core.errors import TokenError
from device_firmware.pi.config import DEFAULT_CONFIG_PATH, load_config
from device_firmware.pi.errors import ConfigError, PiError


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the token (or the emulator)."""
    parser = argparse.ArgumentParser(
        prog="python -m device_firmware", description="The OTP token's firmware."
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help=f"TOML configuration (default {DEFAULT_CONFIG_PATH})",
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="run in this terminal instead of on the Pi's keypad and OLED",
    )
    parser.add_argument(
        "--check-config", action="store_true", help="check the configuration and exit"
    )
    args, rest = parser.parse_known_args(argv)
    if args.emulator:
        from device_firmware.emulator.__main__ import main as emulator_main

        return emulator_main(rest)
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"otp-token: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"otp-token: {args.config} is valid")
        return 0
    from device_firmware.pi.service import run_service  # gpiozero and luma: only on the Pi

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_service(config, keep_going=lambda: not stop.is_set())
    except (PiError, TokenError) as exc:  # TokenError: e.g. the vault directory
        print(f"otp-token: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m benchmarks [NAME ...]`: run the benchmarks and print their reports."""

from __future__ import annotations

import argparse
import logging

import structlog

from benchmarks import hsm_otp, rotation, token, verify_api

SUITES = {
    "hsm": hsm_otp.run,
    "verify": verify_api.run,
    "rotation": rotation.run,
    "token": token.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *SUITES], help="which (default: all)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timed round")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for name in args.names or list(SUITES):
        print(f"== {name}")
        for line in SUITES[name](args.seconds):
            print(line)


if __name__ == "__main__":
    main()

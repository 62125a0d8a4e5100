"""Check a token's user and SO PINs in a child process: `python -m hsm.pincheck`.

Reads `{"module", "label", "user_pin", "so_pin"}` as JSON on stdin (PINs never go on a
command line), logs in with each PIN, and exits 0 when both are accepted. On failure it exits
1 and says which PIN was refused on stderr. It runs in its own process because PKCS#11 login
state belongs to the process and the module reads SOFTHSM2_CONF only when it starts.
"""

from __future__ import annotations

import json
import sys

import pkcs11
import pkcs11.exceptions as p11e


def check(module: str, label: str, user_pin: str, so_pin: str) -> str | None:
    """Return None when both PINs open the token, else what was refused."""
    lib = pkcs11.lib(module)
    try:
        token = lib.get_token(token_label=label)
    except p11e.NoSuchToken:
        return f"no token labelled {label!r}"
    checks: tuple[tuple[str, str | None, str | None], ...] = (
        ("the user PIN", user_pin, None),
        ("the SO PIN", None, so_pin),
    )
    for what, user, so in checks:
        try:
            token.open(rw=True, user_pin=user, so_pin=so).close()
        except (p11e.PinIncorrect, p11e.PinLenRange, p11e.PinInvalid, p11e.PinLocked):
            return f"{what} is refused"
    return None


def main() -> int:
    request = json.loads(sys.stdin.read())
    problem = check(request["module"], request["label"], request["user_pin"], request["so_pin"])
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

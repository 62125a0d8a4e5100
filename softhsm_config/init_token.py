"""Initialise a token through PKCS#11 in a child process: `python -m softhsm_config.init_token`.

`softhsm2-util --init-token` takes both PINs as arguments, where any local user can read them
in `/proc/<pid>/cmdline` while it runs, and it reads them from nothing but a terminal. This
module does the same work through the PKCS#11 functions themselves (C_InitToken on the first
slot without an initialised token, then C_InitPIN as the security officer), reading
`{"module", "label", "so_pin", "user_pin"}` as JSON on stdin. python-pkcs11 has no
C_InitToken, so the few calls go through ctypes. It runs in its own process because the
module reads SOFTHSM2_CONF only when it starts, and so that the caller's own PKCS#11 state is
untouched.

Exit status 0 when the token is ready; 1 with the failing call and its CKR name on stderr
(never a PIN).
"""

from __future__ import annotations

import ctypes
import json
import sys
from collections.abc import Callable

CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_TOKEN_INITIALIZED = 0x400
CKU_SO = 0
_LABEL_BYTES = 32

_CKR_NAMES = {
    0x05: "CKR_GENERAL_ERROR",
    0x06: "CKR_FUNCTION_FAILED",
    0x07: "CKR_ARGUMENTS_BAD",
    0x30: "CKR_DEVICE_ERROR",
    0x31: "CKR_DEVICE_MEMORY",
    0xA0: "CKR_PIN_INCORRECT",
    0xA1: "CKR_PIN_INVALID",
    0xA2: "CKR_PIN_LEN_RANGE",
    0xA4: "CKR_PIN_LOCKED",
    0xB3: "CKR_SESSION_HANDLE_INVALID",
    0xB8: "CKR_SESSION_READ_ONLY_EXISTS",
    0xE0: "CKR_TOKEN_NOT_PRESENT",
    0xE2: "CKR_TOKEN_WRITE_PROTECTED",
    0x100: "CKR_USER_ALREADY_LOGGED_IN",
    0x190: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}


class InitError(Exception):
    """A PKCS#11 call failed; the message names the call and its return value."""


class _TokenInfo(ctypes.Structure):
    """CK_TOKEN_INFO (PKCS#11 v2.40, section 3.2)."""

    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", ctypes.c_ulong),
        ("ulMaxSessionCount", ctypes.c_ulong),
        ("ulSessionCount", ctypes.c_ulong),
        ("ulMaxRwSessionCount", ctypes.c_ulong),
        ("ulRwSessionCount", ctypes.c_ulong),
        ("ulMaxPinLen", ctypes.c_ulong),
        ("ulMinPinLen", ctypes.c_ulong),
        ("ulTotalPublicMemory", ctypes.c_ulong),
        ("ulFreePublicMemory", ctypes.c_ulong),
        ("ulTotalPrivateMemory", ctypes.c_ulong),
        ("ulFreePrivateMemory", ctypes.c_ulong),
        ("hardwareVersion", ctypes.c_ubyte * 2),
        ("firmwareVersion", ctypes.c_ubyte * 2),
        ("utcTime", ctypes.c_char * 16),
    ]


def _checked(lib: ctypes.CDLL, name: str) -> Callable[..., None]:
    function = getattr(lib, name)
    function.restype = ctypes.c_ulong

    def call(*args: object) -> None:
        rv = function(*args)
        if rv != 0:
            raise InitError(f"{name} failed: {_CKR_NAMES.get(rv, 'CKR')} (0x{rv:x})")

    return call


def padded_label(label: str) -> bytes:
    """The label as C_InitToken wants it: UTF-8, padded with blanks to 32 bytes."""
    raw = label.encode("utf-8")
    if not raw or len(raw) > _LABEL_BYTES:
        raise InitError("the token label must be 1 to 32 bytes")
    return raw.ljust(_LABEL_BYTES, b" ")


def init_token(module: str, label: str, *, so_pin: str, user_pin: str) -> None:
    """Initialise the first free slot's token as `label` with these PINs."""
    lib = ctypes.CDLL(module)
    call = {
        name: _checked(lib, name)
        for name in (
            "C_Initialize",
            "C_Finalize",
            "C_GetSlotList",
            "C_GetTokenInfo",
            "C_InitToken",
            "C_OpenSession",
            "C_Login",
            "C_InitPIN",
            "C_Logout",
            "C_CloseSession",
        )
    }
    so = so_pin.encode("utf-8")
    user = user_pin.encode("utf-8")
    call["C_Initialize"](None)
    try:
        slot = _free_slot(call)
        call["C_InitToken"](ctypes.c_ulong(slot), so, ctypes.c_ulong(len(so)), padded_label(label))
        session = ctypes.c_ulong()
        call["C_OpenSession"](
            ctypes.c_ulong(slot),
            ctypes.c_ulong(CKF_SERIAL_SESSION | CKF_RW_SESSION),
            None,
            None,
            ctypes.byref(session),
        )
        try:
            call["C_Login"](session, ctypes.c_ulong(CKU_SO), so, ctypes.c_ulong(len(so)))
            call["C_InitPIN"](session, user, ctypes.c_ulong(len(user)))
            call["C_Logout"](session)
        finally:
            call["C_CloseSession"](session)
    finally:
        call["C_Finalize"](None)


def _free_slot(call: dict[str, Callable[..., None]]) -> int:
    count = ctypes.c_ulong()
    call["C_GetSlotList"](ctypes.c_ubyte(1), None, ctypes.byref(count))
    slots = (ctypes.c_ulong * max(count.value, 1))()
    call["C_GetSlotList"](ctypes.c_ubyte(1), slots, ctypes.byref(count))
    for slot in slots[: count.value]:
        info = _TokenInfo()
        call["C_GetTokenInfo"](ctypes.c_ulong(slot), ctypes.byref(info))
        if not info.flags & CKF_TOKEN_INITIALIZED:
            return int(slot)
    raise InitError("the module offers no slot with an uninitialised token")


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        init_token(
            request["module"],
            request["label"],
            so_pin=request["so_pin"],
            user_pin=request["user_pin"],
        )
    except (InitError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError):
        print("the request on stdin is not the JSON object expected", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The verify path's seed operations, called straight through the module's function list.

python-pkcs11 answers every object it creates with a new Python class made for it (its
`make_object` reads ten attributes from the HSM and calls `type(...)`). For a seed
unwrapped only to compute an HMAC and be destroyed, that is most of the work: about
0.36 ms per seed against 0.13 ms through this module on SoftHSM (`python -m benchmarks
hsm` measures both). So the calls of the verify path - C_UnwrapKey, C_SignInit + C_Sign,
C_DestroyObject - go through ctypes here, on the session python-pkcs11 opened and logged
in (same process, same library, same PKCS#11 thread). Everything else stays on
python-pkcs11.

The calls release the GIL like python-pkcs11's do (a network HSM may take milliseconds).
Errors are raised as the `pkcs11.exceptions` class python-pkcs11 raises for the same
return value, so the session-loss and bad-blob handling of the layer apply unchanged.
Linux and other Unix only (PKCS#11 structures there use the platform's default packing).
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11e
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

CK_ULONG = ctypes.c_ulong
CK_BBOOL = ctypes.c_ubyte


class _Mechanism(ctypes.Structure):
    _fields_ = [
        ("mechanism", CK_ULONG),
        ("parameter", ctypes.c_void_p),
        ("parameter_len", CK_ULONG),
    ]


class _Attribute(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("value", ctypes.c_void_p), ("value_len", CK_ULONG)]


# CK_FUNCTION_LIST of PKCS#11 v2.40 (pkcs11f.h), in order after the CK_VERSION.
_FUNCTIONS = (
    "Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo GetTokenInfo "
    "GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession CloseSession "
    "CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login Logout "
    "CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue SetAttributeValue "
    "FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt EncryptUpdate "
    "EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit Digest "
    "DigestUpdate DigestKey DigestFinal SignInit Sign SignUpdate SignFinal SignRecoverInit "
    "SignRecover VerifyInit Verify VerifyUpdate VerifyFinal VerifyRecoverInit VerifyRecover "
    "DigestEncryptUpdate DecryptDigestUpdate SignEncryptUpdate DecryptVerifyUpdate "
    "GenerateKey GenerateKeyPair WrapKey UnwrapKey DeriveKey SeedRandom GenerateRandom "
    "GetFunctionStatus CancelFunction WaitForSlotEvent"
).split()


class _FunctionList(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)] + [
        (name, ctypes.c_void_p) for name in _FUNCTIONS
    ]


# CKR_* values of PKCS#11 v2.40 (pkcs11t.h) -> the class python-pkcs11 raises for them.
ERRORS: Mapping[int, type[p11e.PKCS11Error]] = {
    0x002: p11e.HostMemory,
    0x003: p11e.SlotIDInvalid,
    0x005: p11e.GeneralError,
    0x006: p11e.FunctionFailed,
    0x007: p11e.ArgumentsBad,
    0x008: p11e.NoEvent,
    0x010: p11e.AttributeReadOnly,
    0x011: p11e.AttributeSensitive,
    0x012: p11e.AttributeTypeInvalid,
    0x013: p11e.AttributeValueInvalid,
    0x020: p11e.DataInvalid,
    0x021: p11e.DataLenRange,
    0x030: p11e.DeviceError,
    0x031: p11e.DeviceMemory,
    0x032: p11e.DeviceRemoved,
    0x040: p11e.EncryptedDataInvalid,
    0x041: p11e.EncryptedDataLenRange,
    0x050: p11e.FunctionCancelled,
    0x054: p11e.FunctionNotSupported,
    0x060: p11e.KeyHandleInvalid,
    0x062: p11e.KeySizeRange,
    0x063: p11e.KeyTypeInconsistent,
    0x064: p11e.KeyNotNeeded,
    0x066: p11e.KeyNeeded,
    0x067: p11e.KeyIndigestible,
    0x069: p11e.KeyNotWrappable,
    0x06A: p11e.KeyUnextractable,
    0x070: p11e.MechanismInvalid,
    0x071: p11e.MechanismParamInvalid,
    0x082: p11e.ObjectHandleInvalid,
    0x090: p11e.OperationActive,
    0x091: p11e.OperationNotInitialized,
    0x0A0: p11e.PinIncorrect,
    0x0A1: p11e.PinInvalid,
    0x0A2: p11e.PinLenRange,
    0x0A3: p11e.PinExpired,
    0x0A4: p11e.PinLocked,
    0x0B0: p11e.SessionClosed,
    0x0B1: p11e.SessionCount,
    0x0B3: p11e.SessionHandleInvalid,
    0x0B5: p11e.SessionReadOnly,
    0x0B6: p11e.SessionExists,
    0x0B7: p11e.SessionReadOnlyExists,
    0x0B8: p11e.SessionReadWriteSOExists,
    0x0C0: p11e.SignatureInvalid,
    0x0C1: p11e.SignatureLenRange,
    0x0D0: p11e.TemplateIncomplete,
    0x0D1: p11e.TemplateInconsistent,
    0x0E0: p11e.TokenNotPresent,
    0x0E1: p11e.TokenNotRecognised,
    0x0E2: p11e.TokenWriteProtected,
    0x0F0: p11e.UnwrappingKeyHandleInvalid,
    0x0F1: p11e.UnwrappingKeySizeRange,
    0x0F2: p11e.UnwrappingKeyTypeInconsistent,
    0x100: p11e.UserAlreadyLoggedIn,
    0x101: p11e.UserNotLoggedIn,
    0x102: p11e.UserPinNotInitialized,
    0x104: p11e.AnotherUserAlreadyLoggedIn,
    0x105: p11e.UserTooManyTypes,
    0x110: p11e.WrappedKeyInvalid,
    0x112: p11e.WrappedKeyLenRange,
    0x113: p11e.WrappingKeyHandleInvalid,
    0x114: p11e.WrappingKeySizeRange,
    0x115: p11e.WrappingKeyTypeInconsistent,
    0x120: p11e.RandomSeedNotSupported,
    0x121: p11e.RandomNoRNG,
    0x130: p11e.DomainParamsInvalid,
    0x1B5: p11e.ExceededMaxIterations,
    0x1B8: p11e.PinTooWeak,
    0x1B9: p11e.PublicKeyInvalid,
    0x200: p11e.FunctionRejected,
}

# What a seed object for signing is made with: what `seeds.seed_template` and python-pkcs11
# give such an object (a session object that can only sign and never shows its value).
SIGNING_SEED_TEMPLATE: Mapping[Attribute, int | bool] = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.VERIFY: False,
    Attribute.ENCRYPT: False,
    Attribute.DECRYPT: False,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}

_MAX_MAC = 64  # SHA-512


def check(rv: int) -> None:
    """Raise the python-pkcs11 exception for a PKCS#11 return value other than CKR_OK."""
    if rv:
        error = ERRORS.get(rv)
        if error is None:
            raise p11e.PKCS11Error(f"the PKCS#11 module answered CKR 0x{rv:X}")
        raise error()


def handle_of(session_or_object: Any) -> int:
    """The PKCS#11 handle of a python-pkcs11 session or object."""
    handle = session_or_object.handle
    if not isinstance(handle, int):
        raise TypeError(f"{type(session_or_object).__name__} has no PKCS#11 handle")
    return handle


class _Template:
    """A CK_ATTRIBUTE array and the values it points to (kept alive together)."""

    def __init__(self, attributes: Mapping[Attribute, int | bool]) -> None:
        self._values = [
            CK_BBOOL(value) if isinstance(value, bool) else CK_ULONG(value)
            for value in attributes.values()
        ]
        self.count = len(self._values)
        self.array = (_Attribute * self.count)(
            *(
                _Attribute(
                    kind, ctypes.cast(ctypes.byref(value), ctypes.c_void_p), ctypes.sizeof(value)
                )
                for kind, value in zip(attributes, self._values, strict=True)
            )
        )


class Cryptoki:
    """Unwrap, HMAC and destroy on a session of an already initialised PKCS#11 module.

    Loading the module again is harmless: the dynamic loader hands back the copy that
    python-pkcs11 loaded and initialised. Use only on the PKCS#11 thread.
    """

    def __init__(self, module: Path) -> None:
        library = ctypes.CDLL(str(module))
        functions = ctypes.POINTER(_FunctionList)()
        check(library.C_GetFunctionList(ctypes.byref(functions)))
        table = functions.contents
        self._library = library  # keeps the module mapped while the pointers are in use
        self._unwrap = ctypes.CFUNCTYPE(
            CK_ULONG,
            CK_ULONG,
            ctypes.POINTER(_Mechanism),
            CK_ULONG,
            ctypes.c_char_p,
            CK_ULONG,
            ctypes.POINTER(_Attribute),
            CK_ULONG,
            ctypes.POINTER(CK_ULONG),
        )(table.UnwrapKey)
        self._sign_init = ctypes.CFUNCTYPE(
            CK_ULONG, CK_ULONG, ctypes.POINTER(_Mechanism), CK_ULONG
        )(table.SignInit)
        self._sign = ctypes.CFUNCTYPE(
            CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG, ctypes.c_char_p, ctypes.POINTER(CK_ULONG)
        )(table.Sign)
        self._destroy = ctypes.CFUNCTYPE(CK_ULONG, CK_ULONG, CK_ULONG)(table.DestroyObject)
        self._template = _Template(SIGNING_SEED_TEMPLATE)
        self._mechanisms: dict[int, _Mechanism] = {}
        # reused by every call (one thread only): no ctypes objects made per call
        self._handle = CK_ULONG()
        self._handle_ref = ctypes.byref(self._handle)
        self._mac = ctypes.create_string_buffer(_MAX_MAC)
        self._mac_len = CK_ULONG()
        self._mac_len_ref = ctypes.byref(self._mac_len)

    def _mechanism(self, mechanism: Mechanism) -> _Mechanism:
        found = self._mechanisms.get(mechanism)
        if found is None:
            found = self._mechanisms[mechanism] = _Mechanism(mechanism, None, 0)
        return found

    def unwrap_signing_seed(self, session: int, kek: int, blob: bytes, mechanism: Mechanism) -> int:
        """Unwrap `blob` with key `kek` into a session object made with
        `SIGNING_SEED_TEMPLATE`; returns its handle."""
        check(
            self._unwrap(
                session,
                self._mechanism(mechanism),
                kek,
                blob,
                len(blob),
                self._template.array,
                self._template.count,
                self._handle_ref,
            )
        )
        return self._handle.value

    def sign(self, session: int, key: int, mechanism: Mechanism, data: bytes) -> bytes:
        """C_SignInit + C_Sign of `data` with `key` (an HMAC: at most 64 bytes)."""
        check(self._sign_init(session, self._mechanism(mechanism), key))
        self._mac_len.value = _MAX_MAC
        check(self._sign(session, data, len(data), self._mac, self._mac_len_ref))
        return self._mac.raw[: self._mac_len.value]

    def destroy(self, session: int, handle: int) -> None:
        """C_DestroyObject."""
        check(self._destroy(session, handle))

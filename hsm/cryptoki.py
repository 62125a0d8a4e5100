"""The verify path's seed operations, called straight through the module's function list.

python-pkcs11 answers every object it creates with a new Python class made for it (its
`make_object` reads ten attributes from the HSM and calls `type(...)`). For a seed
unwrapped only to compute an HMAC and be destroyed, that is most of the work: about
0.36 ms per seed against 0.13 ms through this module on SoftHSM (`python -m benchmarks
hsm` measures both). So the calls of the verify path - C_UnwrapKey, C_SignInit + C_Sign,
C_DestroyObject - go through ctypes here, on the session python-pkcs11 opened and logged
in (same process, same library, same PKCS#11 thread). So do the calls whose templates
python-pkcs11 0.10 cannot pack (an attribute that is itself a template, such as
CKA_UNWRAP_TEMPLATE, crashes it) and the reads of an object's attributes that the layer
checks. Everything else stays on python-pkcs11.

The calls release the GIL like python-pkcs11's do (a network HSM may take milliseconds).
Errors are raised as the `pkcs11.exceptions` class python-pkcs11 raises for the same
return value, so the session-loss and bad-blob handling of the layer apply unchanged.
Linux and other Unix only (PKCS#11 structures there use the platform's default packing).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11e
from pkcs11 import Attribute, Mechanism

from hsm.attributes import SIGNING_SEED_TEMPLATE, Template

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

_MAX_MAC = 64  # SHA-512
_WRAP_SLACK = 16  # an RFC 5649 blob is at most 15 bytes longer than its key
_CKR_ATTRIBUTE_SENSITIVE = 0x011
_CKR_ATTRIBUTE_TYPE_INVALID = 0x012


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
    """A CK_ATTRIBUTE array and the values it points to (kept alive together). Values are
    booleans (CK_BBOOL), integers (CK_ULONG), bytes, tuples of integers (CK_ULONG arrays,
    as CKA_ALLOWED_MECHANISMS takes), or templates (an attribute array, as
    CKA_UNWRAP_TEMPLATE takes): python-pkcs11 0.10 packs neither of the last two."""

    count: int
    array: Any

    def __init__(self, attributes: Template) -> None:
        self._keep: list[Any] = []
        entries = []
        for kind, value in attributes.items():
            if isinstance(value, Mapping):
                inner = _Template(value)
                self._keep.append(inner)
                pointer = ctypes.cast(inner.array, ctypes.c_void_p)
                size = ctypes.sizeof(_Attribute) * inner.count
            else:
                if isinstance(value, bool):
                    cell: Any = CK_BBOOL(value)
                elif isinstance(value, int):
                    cell = CK_ULONG(value)
                elif isinstance(value, tuple):  # CK_MECHANISM_TYPE[], e.g. allowed mechanisms
                    cell = (CK_ULONG * len(value))(*value)
                else:
                    cell = ctypes.create_string_buffer(bytes(value), len(value))
                self._keep.append(cell)
                pointer = ctypes.cast(ctypes.byref(cell), ctypes.c_void_p)
                size = ctypes.sizeof(cell)
            entries.append(_Attribute(kind, pointer, size))
        self.count = len(entries)
        self.array = (_Attribute * self.count)(*entries)


class Cryptoki:
    """Unwrap, HMAC, destroy (and the calls python-pkcs11 cannot make) on a session of an
    already initialised PKCS#11 module.

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
        # C_SignInit / C_DecryptInit, and C_Sign / C_Decrypt: one signature each
        _init = (CK_ULONG, CK_ULONG, ctypes.POINTER(_Mechanism), CK_ULONG)
        _one_shot = (
            CK_ULONG,
            CK_ULONG,
            ctypes.c_char_p,
            CK_ULONG,
            ctypes.c_char_p,
            ctypes.POINTER(CK_ULONG),
        )
        self._sign_init = ctypes.CFUNCTYPE(*_init)(table.SignInit)
        self._sign = ctypes.CFUNCTYPE(*_one_shot)(table.Sign)
        self._destroy = ctypes.CFUNCTYPE(CK_ULONG, CK_ULONG, CK_ULONG)(table.DestroyObject)
        _attributes = (CK_ULONG, CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG)
        self._get_attributes = ctypes.CFUNCTYPE(CK_ULONG, *_attributes)(table.GetAttributeValue)
        self._set_attributes = ctypes.CFUNCTYPE(CK_ULONG, *_attributes)(table.SetAttributeValue)
        self._copy = ctypes.CFUNCTYPE(CK_ULONG, *_attributes, ctypes.POINTER(CK_ULONG))(
            table.CopyObject
        )
        self._create = ctypes.CFUNCTYPE(
            CK_ULONG, CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG, ctypes.POINTER(CK_ULONG)
        )(table.CreateObject)
        self._generate = ctypes.CFUNCTYPE(
            CK_ULONG,
            CK_ULONG,
            ctypes.POINTER(_Mechanism),
            ctypes.POINTER(_Attribute),
            CK_ULONG,
            ctypes.POINTER(CK_ULONG),
        )(table.GenerateKey)
        self._wrap = ctypes.CFUNCTYPE(
            CK_ULONG,
            CK_ULONG,
            ctypes.POINTER(_Mechanism),
            CK_ULONG,
            CK_ULONG,
            ctypes.c_char_p,
            ctypes.POINTER(CK_ULONG),
        )(table.WrapKey)
        self._decrypt_init = ctypes.CFUNCTYPE(*_init)(table.DecryptInit)
        self._decrypt = ctypes.CFUNCTYPE(*_one_shot)(table.Decrypt)
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
        `SIGNING_SEED_TEMPLATE`; returns its handle. (The verify path's call: its template
        and handle are made once.)"""
        return self._unwrap_into(
            session, kek, blob, mechanism, self._template, self._handle, self._handle_ref
        )

    def unwrap(
        self, session: int, kek: int, blob: bytes, mechanism: Mechanism, template: Template
    ) -> int:
        """C_UnwrapKey of `blob` with `kek` into an object made with `template`."""
        handle = CK_ULONG()
        return self._unwrap_into(
            session, kek, blob, mechanism, _Template(template), handle, ctypes.byref(handle)
        )

    def _unwrap_into(
        self,
        session: int,
        kek: int,
        blob: bytes,
        mechanism: Mechanism,
        attributes: _Template,
        handle: Any,
        handle_ref: Any,
    ) -> int:
        check(
            self._unwrap(
                session,
                self._mechanism(mechanism),
                kek,
                blob,
                len(blob),
                attributes.array,
                attributes.count,
                handle_ref,
            )
        )
        return int(handle.value)

    def wrap(self, session: int, kek: int, key: int, mechanism: Mechanism) -> bytes:
        """C_WrapKey of `key` under `kek`.

        The buffer is the module's size answer plus 16 bytes: NSS softokn answers the key's
        own length for CKM_AES_KEY_WRAP_KWP, then refuses that buffer as too small."""
        size = CK_ULONG(0)
        check(self._wrap(session, self._mechanism(mechanism), kek, key, None, ctypes.byref(size)))
        size.value += _WRAP_SLACK
        out = ctypes.create_string_buffer(size.value)
        check(self._wrap(session, self._mechanism(mechanism), kek, key, out, ctypes.byref(size)))
        return out.raw[: size.value]

    def generate_key(self, session: int, mechanism: Mechanism, template: Template) -> int:
        """C_GenerateKey with `template` (which may hold an unwrap template)."""
        attributes, handle = _Template(template), CK_ULONG()
        check(
            self._generate(
                session,
                self._mechanism(mechanism),
                attributes.array,
                attributes.count,
                ctypes.byref(handle),
            )
        )
        return handle.value

    def copy(self, session: int, handle: int, template: Template) -> int:
        """C_CopyObject with the attributes of `template` changed."""
        attributes, copy = _Template(template), CK_ULONG()
        check(self._copy(session, handle, attributes.array, attributes.count, ctypes.byref(copy)))
        return copy.value

    def create(self, session: int, template: Template) -> int:
        """C_CreateObject with `template`."""
        attributes, handle = _Template(template), CK_ULONG()
        check(self._create(session, attributes.array, attributes.count, ctypes.byref(handle)))
        return handle.value

    def mechanism_list(self, session: int, handle: int, attribute: Attribute) -> list[int] | None:
        """An attribute that is a CK_MECHANISM_TYPE array (CKA_ALLOWED_MECHANISMS); None
        when the object does not have it."""
        entry = (_Attribute * 1)(_Attribute(attribute, None, 0))
        rv = self._get_attributes(session, handle, entry, 1)
        if rv in (_CKR_ATTRIBUTE_SENSITIVE, _CKR_ATTRIBUTE_TYPE_INVALID):
            return None
        check(rv)
        count = entry[0].value_len // ctypes.sizeof(CK_ULONG)
        if count == 0:
            return []
        values = (CK_ULONG * count)()
        entry[0].value = ctypes.cast(values, ctypes.c_void_p)
        check(self._get_attributes(session, handle, entry, 1))
        return list(values)

    def set_attributes(self, session: int, handle: int, template: Template) -> None:
        """C_SetAttributeValue."""
        attributes = _Template(template)
        check(self._set_attributes(session, handle, attributes.array, attributes.count))

    def flags(
        self, session: int, handle: int, attributes: Iterable[Attribute]
    ) -> dict[Attribute, bool | None]:
        """Boolean attributes of an object, one C_GetAttributeValue each; None for one the
        HSM does not have or will not show."""
        found: dict[Attribute, bool | None] = {}
        for attribute in attributes:
            cell = CK_BBOOL()
            entry = (_Attribute * 1)(
                _Attribute(attribute, ctypes.cast(ctypes.byref(cell), ctypes.c_void_p), 1)
            )
            rv = self._get_attributes(session, handle, entry, 1)
            if rv in (_CKR_ATTRIBUTE_SENSITIVE, _CKR_ATTRIBUTE_TYPE_INVALID):
                found[attribute] = None
                continue
            check(rv)
            found[attribute] = bool(cell.value)
        return found

    def value(self, session: int, handle: int, attribute: Attribute = Attribute.VALUE) -> bytes:
        """A byte-string attribute of an object: CKA_VALUE (refused by the HSM for a
        sensitive one), CKA_ID, ..."""
        entry = (_Attribute * 1)(_Attribute(attribute, None, 0))
        check(self._get_attributes(session, handle, entry, 1))
        out = ctypes.create_string_buffer(entry[0].value_len)
        entry[0].value = ctypes.cast(out, ctypes.c_void_p)
        check(self._get_attributes(session, handle, entry, 1))
        return out.raw[: entry[0].value_len]

    def decrypt(self, session: int, key: int, mechanism: Mechanism, data: bytes) -> bytes:
        """C_DecryptInit + C_Decrypt (the extraction proof tries it on KEKs)."""
        check(self._decrypt_init(session, self._mechanism(mechanism), key))
        out, size = ctypes.create_string_buffer(len(data) + 32), CK_ULONG(len(data) + 32)
        check(self._decrypt(session, data, len(data), out, ctypes.byref(size)))
        return out.raw[: size.value]

    def sign(self, session: int, key: int, mechanism: Mechanism, data: bytes) -> bytes:
        """C_SignInit + C_Sign of `data` with `key` (an HMAC: at most 64 bytes)."""
        check(self._sign_init(session, self._mechanism(mechanism), key))
        self._mac_len.value = _MAX_MAC
        check(self._sign(session, data, len(data), self._mac, self._mac_len_ref))
        return self._mac.raw[: self._mac_len.value]

    def destroy(self, session: int, handle: int) -> None:
        """C_DestroyObject."""
        check(self._destroy(session, handle))

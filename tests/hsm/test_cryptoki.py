"""The verify path's direct calls (`hsm.cryptoki`) against python-pkcs11 and the standard
library: the same objects, the same MACs, the same errors, and no object left behind."""

from __future__ import annotations

import ctypes
import hashlib
import hmac
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
import pytest
from pkcs11 import Attribute, Mechanism, ObjectClass

from hsm import Algorithm, Hsm
from hsm.connection import _lost
from hsm.cryptoki import _FUNCTIONS, Cryptoki, _FunctionList, check, handle_of
from hsm.seeds import HMAC_MECHANISMS
from tests.conftest import SoftHsmTokens
from tests.hsm.conftest import like

COMPARED = (
    Attribute.CLASS,
    Attribute.KEY_TYPE,
    Attribute.TOKEN,
    Attribute.PRIVATE,
    Attribute.SENSITIVE,
    Attribute.ALWAYS_SENSITIVE,
    Attribute.EXTRACTABLE,
    Attribute.NEVER_EXTRACTABLE,
    Attribute.SIGN,
    Attribute.VERIFY,
    Attribute.ENCRYPT,
    Attribute.DECRYPT,
    Attribute.WRAP,
    Attribute.UNWRAP,
    Attribute.DERIVE,
    Attribute.VALUE_LEN,
)


def _session_secret_keys(session: pkcs11.Session) -> dict[int, Any]:
    found = session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: False})
    return {handle_of(obj): obj for obj in found}


@pytest.mark.softhsm
def test_the_function_table_is_the_one_the_module_exports(tokens: SoftHsmTokens) -> None:
    """The CK_FUNCTION_LIST layout: every entry is the address of the function of that
    name (SoftHSM exports them all)."""
    library = ctypes.CDLL(str(tokens.main.module))
    table = ctypes.POINTER(_FunctionList)()
    check(library.C_GetFunctionList(ctypes.byref(table)))
    assert (table.contents.major, table.contents.minor) == (2, 40)
    for name in _FUNCTIONS:
        exported = ctypes.cast(getattr(library, f"C_{name}"), ctypes.c_void_p).value
        assert getattr(table.contents, name) == exported, name


def test_a_directly_unwrapped_seed_is_the_object_python_pkcs11_makes(hsm: Hsm) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA256)

    def compare(session: pkcs11.Session) -> tuple[list[Any], list[Any], type[Exception]]:
        store = hsm._seeds
        direct = store.unwrap_for_signing(session, wrapped)
        reference = store.unwrap(session, wrapped)
        try:
            ours = _session_secret_keys(session)[direct]
            value_error: type[Exception] = Exception
            try:
                ours[Attribute.VALUE]
            except p11e.PKCS11Error as exc:
                value_error = type(exc)
            return (
                [ours[a] for a in COMPARED],
                [reference[a] for a in COMPARED],
                value_error,
            )
        finally:
            store.direct.destroy(handle_of(session), direct)
            reference.destroy()

    ours, reference, value_error = hsm._run(compare)
    assert ours == reference
    attributes = dict(zip(COMPARED, ours, strict=True))
    assert attributes[Attribute.SENSITIVE] is True and attributes[Attribute.EXTRACTABLE] is False
    assert attributes[Attribute.SIGN] is True and attributes[Attribute.TOKEN] is False
    assert value_error is p11e.AttributeSensitive


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_a_direct_hmac_is_python_pkcs11s_and_the_standard_librarys(
    hsm: Hsm, algorithm: Algorithm
) -> None:
    seed = bytes(range(7, 7 + 24))
    wrapped = hsm.import_seed(seed, algorithm)
    data = (123456789).to_bytes(8, "big")
    mechanism = HMAC_MECHANISMS[algorithm]

    def both(session: pkcs11.Session) -> tuple[bytes, bytes]:
        store = hsm._seeds
        direct = store.unwrap_for_signing(session, wrapped)
        reference = store.unwrap(session, wrapped)
        try:
            return (
                store.direct.sign(handle_of(session), direct, mechanism, data),
                bytes(reference.sign(data, mechanism=mechanism)),
            )
        finally:
            store.direct.destroy(handle_of(session), direct)
            reference.destroy()

    ours, reference = hsm._run(both)
    assert ours == reference == hmac.new(seed, data, algorithm.value.lower()).digest()
    assert len(ours) == hashlib.new(algorithm.value.lower()).digest_size


def test_errors_are_the_classes_python_pkcs11_raises(hsm: Hsm) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA1)

    def provoke(session: pkcs11.Session) -> tuple[type[Exception], type[Exception]]:
        store = hsm._seeds
        direct = store.unwrap_for_signing(session, wrapped)
        store.direct.destroy(handle_of(session), direct)
        reference = store.unwrap(session, wrapped)
        reference.destroy()
        errors: list[type[Exception]] = []
        for sign in (
            lambda: store.direct.sign(handle_of(session), direct, Mechanism.SHA_1_HMAC, b"x"),
            lambda: reference.sign(b"x", mechanism=Mechanism.SHA_1_HMAC),
        ):
            with pytest.raises(p11e.PKCS11Error) as raised:
                sign()
            errors.append(type(raised.value))
        return errors[0], errors[1]

    ours, reference = hsm._run(provoke)
    assert ours is reference
    assert issubclass(ours, (p11e.KeyHandleInvalid, p11e.ObjectHandleInvalid))


@pytest.mark.softhsm
def test_a_session_that_is_not_open_is_named_as_such(tokens: SoftHsmTokens, hsm: Hsm) -> None:
    direct = Cryptoki(tokens.main.module)
    with pytest.raises(p11e.SessionHandleInvalid):
        # CK_INVALID_HANDLE: never a session (a number like 0xDEAD could be one by now)
        hsm._call(lambda: direct.destroy(0, 1))  # on the PKCS#11 thread, no retry


def test_an_unknown_return_value_counts_as_a_lost_session() -> None:
    with pytest.raises(p11e.PKCS11Error, match="CKR 0x8000ABCD") as raised:
        check(0x8000ABCD)
    assert type(raised.value) is p11e.PKCS11Error
    assert _lost(raised.value)
    check(0)  # CKR_OK


@pytest.mark.softhsm
def test_seed_objects_are_destroyed_when_evicted_and_at_close(tokens: SoftHsmTokens) -> None:
    small = Hsm(tokens.config(seed_cache_size=3))
    uncached = Hsm(tokens.config(seed_cache_size=0))
    seeds = [small.generate_seed(Algorithm.SHA1) for _ in range(6)]
    before = set(small._run(_session_secret_keys))
    for seed in seeds:
        small.otp_values(seed, Algorithm.SHA1, 6, [1, 2])
        uncached.otp_values(seed, Algorithm.SHA1, 6, [1, 2])
    cached = set(small._cache._entries.values())
    assert len(cached) == 3
    # session objects are seen by every session of the process; the uncached one left none
    assert set(small._run(_session_secret_keys)) - before == cached
    # what close() does first, checked before the session's end would destroy them anyway
    small._run(small._seeds.destroy_session_objects)
    assert not set(small._run(_session_secret_keys)) & cached
    assert len(small._cache) == 0
    small.close()
    uncached.close()


@pytest.mark.softhsm
def test_close_leaves_the_handles_of_an_older_session_alone(
    tokens: SoftHsmTokens, hsm: Hsm
) -> None:
    cached = Hsm(like(hsm, seed_cache_size=3))
    seed = hsm.generate_seed(Algorithm.SHA1)
    cached.otp_values(seed, Algorithm.SHA1, 6, [1])
    stale = set(cached._cache._entries.values())
    # a new session, and no operation since that would have forgotten the old handles
    cached._call(lambda: (cached._conn.reset(), cached._conn.session()))
    destroyed = _recording_destroys(cached)
    cached.close()
    assert stale
    assert destroyed == []  # a module that reuses handle numbers would lose other objects
    assert len(cached._cache) == 0


@pytest.mark.softhsm
def test_another_hsm_finalising_the_module_voids_this_ones_handles(
    tokens: SoftHsmTokens, hsm: Hsm
) -> None:
    first = Hsm(like(hsm, seed_cache_size=3))
    other = hsm  # with the keys made, and a session open
    seed = first.generate_seed(Algorithm.SHA1)
    before = first.otp_values(seed, Algorithm.SHA1, 6, [1, 2])
    assert len(first._cache) == 1
    # the other one loses its session and starts the module again: handle numbers restart
    other._call(lambda: other._conn.reset(hard=True))
    assert other.otp_values(seed, Algorithm.SHA1, 6, [1, 2]) == before
    destroyed = _recording_destroys(first)
    assert not first._call(lambda: first._conn.is_open)  # its session went with the module
    first.close()
    assert destroyed == []  # the numbers it cached may be the other one's objects now
    again = Hsm(like(hsm, seed_cache_size=3))
    assert again.otp_values(seed, Algorithm.SHA1, 6, [1, 2]) == before
    again.close()


def _recording_destroys(hsm: Hsm) -> list[int]:
    """The handles `hsm` destroys from now on (the calls still reach the module)."""
    destroyed: list[int] = []
    direct = hsm._seeds.direct
    destroy = direct.destroy

    def recording(session: int, handle: int) -> None:
        destroyed.append(handle)
        destroy(session, handle)

    direct.destroy = recording  # type: ignore[method-assign]
    return destroyed

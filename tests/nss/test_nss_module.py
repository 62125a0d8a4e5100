"""NSS softokn, loaded through `shim.c`, answers as the project expects (and where not).

One NSS database per test session: the shim reads `OTP_NSS_DB_DIR` when python-pkcs11
initialises it, so the fixture sets it before the first load in this process.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_wrap_with_padding
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from hsm import Hsm, truncate
from hsm.cryptoki import Cryptoki, handle_of
from tests.conftest import NSS_USER_PIN
from tests.nss.module import (
    DB_DIR_VARIABLE,
    TOKEN_LABEL,
    NssSetupError,
    NssToken,
    build_shim,
    create_nss_token,
)

RFC4226_SEED = b"12345678901234567890"
RFC4226_HOTP = ["755224", "287082", "359152", "969429", "338314"]  # RFC 4226 appendix D
KNOWN_KEK = bytes(range(32))


@pytest.fixture
def nss_session(nss_token: NssToken, nss_hsm: Hsm) -> Iterator[pkcs11.Session]:
    """A session of its own on the token `nss_hsm` logged in to (login is per process),
    for one test: closing it destroys the keys the test made, which every session of the
    process would otherwise see (the proof reports a public AES key as a stray KEK)."""
    token = pkcs11.lib(str(nss_token.module)).get_token(token_label=nss_token.token_label)
    with token.open(rw=True) as session:
        yield session


def _secret(session: pkcs11.Session, value: bytes, **attributes: Any) -> Any:
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE: value,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
        Attribute.SIGN: True,
    }
    template.update({getattr(Attribute, name): v for name, v in attributes.items()})
    return session.create_object(template)


def _known_kek(session: pkcs11.Session) -> Any:
    return _secret(
        session,
        KNOWN_KEK,
        KEY_TYPE=KeyType.AES,
        SIGN=False,
        WRAP=True,
        UNWRAP=True,
    )


def test_the_shim_loads_softokn_and_the_token_logs_in(
    nss_token: NssToken, nss_session: pkcs11.Session
) -> None:
    lib = pkcs11.lib(str(nss_token.module))
    assert lib.manufacturer_id == "Mozilla Foundation"
    labels = {slot.get_token().label for slot in lib.get_slots(token_present=True)}
    assert TOKEN_LABEL in labels
    assert nss_token.token_label == TOKEN_LABEL
    assert len(nss_session.generate_random(128)) == 16


def test_the_shim_exports_only_the_2_40_entry_point(nss_token: NssToken) -> None:
    library = ctypes.CDLL(str(nss_token.module))
    assert hasattr(library, "C_GetFunctionList")
    # python-pkcs11 would take a C_GetInterface straight from softokn, bypassing the shim
    assert not hasattr(library, "C_GetInterface")


def test_without_the_db_dir_the_shim_refuses_to_initialise(nss_token: NssToken) -> None:
    env = {k: v for k, v in os.environ.items() if k != DB_DIR_VARIABLE}
    code = (
        "import sys, pkcs11\n"
        "try:\n    pkcs11.lib(sys.argv[1])\n"
        "except pkcs11.exceptions.ArgumentsBad:\n    sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(nss_token.module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert DB_DIR_VARIABLE in result.stderr


def test_build_is_cached(nss_token: NssToken) -> None:
    assert build_shim(nss_token.module.parent) == nss_token.module


def test_an_existing_database_is_kept_and_checks_the_pin(nss_token: NssToken) -> None:
    again = create_nss_token(nss_token.db_dir, NSS_USER_PIN, build_dir=nss_token.module.parent)
    assert again.created_with is None
    with pytest.raises(NssSetupError, match="refuses this PIN"):
        create_nss_token(nss_token.db_dir, "not-the-pin", build_dir=nss_token.module.parent)


def test_hmac_sha1_on_nss_matches_python_and_rfc_4226(nss_session: pkcs11.Session) -> None:
    seed = _secret(nss_session, RFC4226_SEED, SENSITIVE=True, EXTRACTABLE=False)
    codes = []
    for counter in range(len(RFC4226_HOTP)):
        message = counter.to_bytes(8, "big")
        mac = bytes(seed.sign(message, mechanism=Mechanism.SHA_1_HMAC))
        assert mac == hmac.new(RFC4226_SEED, message, hashlib.sha1).digest()
        codes.append(truncate(mac, 6))
    assert codes == RFC4226_HOTP


@pytest.mark.parametrize("length", [20, 32])
def test_aes_key_wrap_kwp_is_rfc_5649(
    nss_token: NssToken, nss_session: pkcs11.Session, length: int
) -> None:
    seed_value = bytes(range(100, 100 + length))
    kek, seed = _known_kek(nss_session), _secret(nss_session, seed_value)
    # the project's own C_WrapKey, which gives the module 16 bytes more than it asks for
    blob = Cryptoki(nss_token.module).wrap(
        handle_of(nss_session), handle_of(kek), handle_of(seed), Mechanism.AES_KEY_WRAP_KWP
    )
    assert blob == aes_key_wrap_with_padding(KNOWN_KEK, seed_value)
    # softokn's size query answers the key's length, too short: python-pkcs11 fails
    with pytest.raises(pkcs11.PKCS11Error):
        kek.wrap_key(seed, mechanism=Mechanism.AES_KEY_WRAP_KWP)


def test_an_rfc_5649_blob_unwraps_with_kwp(nss_session: pkcs11.Session) -> None:
    kek = _known_kek(nss_session)
    seed = kek.unwrap_key(
        ObjectClass.SECRET_KEY,
        KeyType.GENERIC_SECRET,
        aes_key_wrap_with_padding(KNOWN_KEK, RFC4226_SEED),
        mechanism=Mechanism.AES_KEY_WRAP_KWP,
        store=False,
        capabilities=MechanismFlag.SIGN,
        template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
    )
    mac = bytes(seed.sign(bytes(8), mechanism=Mechanism.SHA_1_HMAC))
    assert mac == hmac.new(RFC4226_SEED, bytes(8), hashlib.sha1).digest()


def test_aes_key_wrap_pad_is_rfc_3394_over_pkcs7_padding_not_rfc_5649(
    nss_session: pkcs11.Session,
) -> None:
    """What earlier releases wrapped with everywhere: on NSS its blobs are neither
    SoftHSM's nor RFC 5649's (hence `hsm.wire_format`)."""
    kek, seed = _known_kek(nss_session), _secret(nss_session, RFC4226_SEED)
    blob = bytes(kek.wrap_key(seed, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    padded = RFC4226_SEED + bytes([4]) * 4
    assert blob == aes_key_wrap(KNOWN_KEK, padded)
    assert blob != aes_key_wrap_with_padding(KNOWN_KEK, RFC4226_SEED)

"""Shared fixtures: one real SoftHSM2 token per test session, made in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass

from hsm import Hsm, HsmConfig, WrappedSeed
from hsm.keys import KeyPurpose, key_label
from server.db.migrate import upgrade
from softhsm_config import SoftHsmToken, create_token
from tests.nss.module import NssToken, create_nss_token, missing_prerequisites

SOFTHSM_ACCEPTED = frozenset({"key-store-readable"})
"""What every test on SoftHSM accepts: its key store is files this process can read."""
TOKEN_LABEL = "otp-test"
SPARE_LABEL = "otp-spare"  # a second token nobody logs in to, for wrong-PIN cases
EMPTY_LABEL = "otp-empty"  # a token that never gets keys
OFFICER_LABEL = "otp-officer"  # KEK rotation tests (tests/officer) rotate this one only


@dataclass(frozen=True)
class SoftHsmTokens:
    main: SoftHsmToken
    spare: SoftHsmToken
    empty: SoftHsmToken
    officer: SoftHsmToken

    def config(self, token: SoftHsmToken | None = None, **overrides: object) -> HsmConfig:
        """How to open `token` (default: the main one), logged in with its own PIN."""
        token = token or self.main
        values: dict[str, object] = {
            "module": token.module,
            "token_label": token.label,
            "user_pin": token.user_pin(),
            "so_pin": token.so_pin(),
            "reconnect_interval": 0.0,
            # SoftHSM runs in this process and its files are ours: accepted, as `make run`
            # accepts it (docs/hsm.md)
            "accepted_weaknesses": SOFTHSM_ACCEPTED,
        }
        values.update(overrides)
        return HsmConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmTokens:
    """Both test tokens, created before the PKCS#11 module is first loaded."""
    base = tmp_path_factory.mktemp("softhsm")
    main = create_token(base / "hsm", TOKEN_LABEL, secrets_dir=base / "secrets")
    spare = create_token(base / "hsm", SPARE_LABEL, secrets_dir=base / "secrets")
    empty = create_token(base / "hsm", EMPTY_LABEL, secrets_dir=base / "secrets")
    officer = create_token(base / "hsm", OFFICER_LABEL, secrets_dir=base / "secrets")
    # SoftHSM reads its configuration when the module is initialised: set it first.
    os.environ["SOFTHSM2_CONF"] = str(main.conf_path)
    return SoftHsmTokens(main, spare, empty, officer)


@pytest.fixture(scope="session")
def softhsm(tokens: SoftHsmTokens) -> Iterator[Hsm]:
    """The session's `Hsm` on SoftHSM, with the key hierarchy created."""
    the_hsm = Hsm(tokens.config())
    the_hsm.ensure_keys()
    yield the_hsm
    the_hsm.close()


@pytest.fixture(scope="session")
def hsm(softhsm: Hsm) -> Hsm:
    """The session's `Hsm` (SoftHSM; tests/hsm runs on NSS softokn as well)."""
    return softhsm


NSS_USER_PIN = "nss-test-user-pin"


@pytest.fixture(scope="session")
def nss_token(tmp_path_factory: pytest.TempPathFactory) -> NssToken:
    """An NSS softokn database reached through the test shim (tests/nss/module.py). CI
    installs what it needs; elsewhere a missing compiler or libnss3 skips, saying so."""
    missing = missing_prerequisites()
    if missing:
        if os.environ.get("CI"):
            pytest.fail("NSS softokn cannot be used in CI: " + "; ".join(missing))
        pytest.skip("NSS softokn cannot be used here: " + "; ".join(missing))
    base = tmp_path_factory.mktemp("nss")
    token = create_nss_token(base / "db", NSS_USER_PIN, build_dir=base / "build")
    os.environ.update(token.env())  # the shim reads them when it is first loaded
    return token


def nss_config(token: NssToken, **overrides: object) -> HsmConfig:
    """How the product opens the NSS token: no security officer can make keys there, so
    the KEK is made by the user (`kek_without_officer`)."""
    values: dict[str, object] = {
        "module": token.module,
        "token_label": token.token_label,
        "user_pin": token.user_pin,
        "kek_without_officer": True,
        "reconnect_interval": 0.0,
    }
    values.update(overrides)
    return HsmConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def nss_hsm(nss_token: NssToken) -> Iterator[Hsm]:
    """The session's `Hsm` on NSS softokn, with the key hierarchy created."""
    the_hsm = Hsm(nss_config(nss_token))
    the_hsm.ensure_keys()
    yield the_hsm
    the_hsm.close()


@pytest.fixture
def legacy(tokens: SoftHsmTokens) -> Iterator[tuple[Hsm, int]]:
    """The spare token with an extra KEK made as releases before the trusted KEK made it
    (no unwrap template, modifiable, untrusted), current while the test runs, destroyed
    after: the weak HSM an extraction attack gets seeds out of."""
    hsm = Hsm(tokens.config(tokens.spare, key_refresh_interval=0.0))
    hsm.ensure_keys()
    version = max(k.version for k in hsm.keys() if k.purpose is KeyPurpose.SEED_WRAPPING) + 1
    label = key_label(KeyPurpose.SEED_WRAPPING, version)
    hsm._run(
        lambda s: s.generate_key(
            KeyType.AES,
            256,
            label=label,
            id=label.encode(),
            store=True,
            capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
    )
    hsm.reload_keys()
    yield hsm, version
    hsm._run(lambda s: s.get_key(label=label).destroy())
    hsm.close()


def wrap_under(hsm: Hsm, version: int, value: bytes) -> WrappedSeed:
    """A SHA-1 seed wrapped under KEK `version`, even one the key ring would not make
    current (a legacy KEK is never vetted: `hsm.keys.KeyRing`)."""

    def run(session: pkcs11.Session) -> WrappedSeed:
        obj = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: value.ljust(20, b"\0"),
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            }
        )
        try:
            return hsm._seeds.wrap(session, obj, version, len(value))
        finally:
            obj.destroy()

    return hsm._run(run)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest schema, migrated once for the session: a test's
    database is a copy, what `upgrade` would make, in a millisecond instead of fifty."""
    path = tmp_path_factory.mktemp("schema") / "otp.sqlite3"
    upgrade(f"sqlite:///{path}")
    # the engine is disposed: everything is in the file, nothing left in a WAL beside it
    assert not path.with_name(path.name + "-wal").exists()
    return path

"""RFC 4226 and RFC 6238 test vectors through the verify API, on both PKCS#11
implementations (SoftHSM2 and NSS softokn): each vector's code is accepted, once."""

from __future__ import annotations

import secrets

import pytest

from hsm import Algorithm, Hsm
from server.db.models import CredentialKind
from server.domain.credentials.rules import SeedImport
from tests.oracles import RFC_SEEDS, load_vectors
from tests.server.conftest import Bank


@pytest.fixture(params=["softhsm", "nss"])
def hsm(request: pytest.FixtureRequest) -> Hsm:
    """The `bank` fixture's HSM: each module in turn."""
    return request.getfixturevalue("softhsm" if request.param == "softhsm" else "nss_hsm")


def _customer(bank: Bank, seed_import: SeedImport) -> str:
    username = f"rfc{secrets.token_hex(4)}"
    with bank.services.db.transaction() as session:
        customer = bank.services.customers.add(
            session, username, f"{username}@example.com", "a long password 1", "RFC"
        )
        bank.services.credentials.import_seed(session, customer, seed_import, actor="test")
    bank.secrets_used.add(seed_import.seed.hex())
    return username


def test_rfc6238_vectors_are_accepted_once(bank: Bank) -> None:
    for unix_time, mode, expected in load_vectors("rfc6238-totp.txt"):
        algorithm = Algorithm.parse(mode)
        username = _customer(
            bank,
            SeedImport(
                seed=RFC_SEEDS[mode],
                kind=CredentialKind.TOTP,
                algorithm=algorithm,
                digits=8,
                period=30,
            ),
        )
        bank.clock.now = float(unix_time)
        status, body = bank.verify(username, expected)
        assert (status, body["result"]) == (200, "accepted"), (unix_time, mode, body)
        status, body = bank.verify(username, expected)
        assert body["result"] == "rejected", (unix_time, mode)


def test_rfc4226_vectors_are_accepted_in_order(bank: Bank) -> None:
    username = _customer(
        bank,
        SeedImport(
            seed=RFC_SEEDS["SHA1"],
            kind=CredentialKind.HOTP,
            algorithm=Algorithm.SHA1,
            digits=6,
            period=0,
            counter=0,
        ),
    )
    for _, expected in load_vectors("rfc4226-hotp.txt"):
        status, body = bank.verify(username, expected)
        assert (status, body["result"]) == (200, "accepted"), (expected, body)

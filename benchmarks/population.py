"""Many credentials fast, for benchmarks and scale tests: a pool of seeds wrapped once by the
HSM, blobs reused by bulk insert."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session

from hsm import Algorithm, Hsm, WrappedSeed
from server.db.engine import make_engine
from server.db.migrate import upgrade
from server.db.models import Credential, Customer
from server.domain.clients.services import ClientService
from server.domain.verification.purposes import Purpose
from server.domain.verification.transfers import SUITE

DUMMY_HASH = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$3Kq0oXl5fV3oxO7Y0dPjlA"


@dataclass(frozen=True)
class Holder:
    """A customer with one TOTP credential (SHA-1, 6 digits, 60 s) and its seed; and the
    credential's OCRA seed when it signs transfers."""

    username: str
    public_id: str
    seed: bytes
    ocra_seed: bytes | None = None


def seed_pool(
    hsm: Hsm, size: int, algorithm: Algorithm = Algorithm.SHA1
) -> list[tuple[bytes, WrappedSeed]]:
    """`size` distinct random seeds for `algorithm` (as long as its hash), each wrapped
    once under the current KEK."""
    pool = []
    for _ in range(size):
        seed = secrets.token_bytes(algorithm.seed_length)
        pool.append((seed, hsm.import_seed(seed, algorithm)))
    return pool


def populate(
    url: str,
    pool: list[tuple[bytes, WrappedSeed]],
    count: int,
    ocra_pool: list[tuple[bytes, WrappedSeed]] | None = None,
) -> list[Holder]:
    """`count` customers, each with one credential whose seed is drawn from `pool`; with
    `ocra_pool` (SHA-256 seeds, under the same KEK), each credential also signs transfers
    (suite `SUITE`) with an OCRA seed drawn from it, as an enrollment gives one."""
    engine = make_engine(url)
    now = time.time()
    holders = []
    with engine.begin() as connection:
        for start in range(0, count, 5000):
            rows = range(start, min(count, start + 5000))
            connection.execute(
                insert(Customer),
                [
                    {
                        "id": i + 1,
                        "username": f"user{i:06d}",
                        "email": f"user{i}@example.com",
                        "display_name": "",
                        "password_hash": DUMMY_HASH,
                        "status": "active",
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
            credentials = []
            for i in rows:
                seed, sealed = pool[i % len(pool)]
                signing: dict[str, object] = {}
                ocra_seed = None
                if ocra_pool:
                    ocra_seed, ocra_sealed = ocra_pool[i % len(ocra_pool)]
                    if ocra_sealed.kek_version != sealed.kek_version:
                        raise ValueError("a credential's two seeds are under the same KEK")
                    signing = {
                        "ocra_suite": SUITE,
                        "ocra_wrapped_seed": ocra_sealed.blob,
                        "ocra_seed_length": ocra_sealed.length,
                    }
                holders.append(Holder(f"user{i:06d}", f"cred_{i:020d}", seed, ocra_seed))
                credentials.append(
                    {
                        **signing,
                        "public_id": f"cred_{i:020d}",
                        "customer_id": i + 1,
                        "kind": "totp",
                        "wrapped_seed": sealed.blob,
                        "kek_version": sealed.kek_version,
                        "seed_length": sealed.length,
                        "algorithm": "SHA1",
                        "digits": 6,
                        "period": 60,
                        "last_step": -1,
                        "drift": 0,
                        "failure_count": 0,
                        "lockouts": 0,
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            connection.execute(insert(Credential), credentials)
    engine.dispose()
    return holders


def verify_population(
    url: str, pool: list[tuple[bytes, WrappedSeed]], count: int
) -> tuple[str, list[tuple[str, bytes]]]:
    """Migrate the empty database at `url` and fill it for the verify API: `count`
    customers as `populate` makes them, and a relying party allowed the login purpose.

    Returns its API key and (username, seed) of every customer."""
    upgrade(url)
    people = [(h.username, h.seed) for h in populate(url, pool, count)]
    return relying_party(url, [Purpose.LOGIN]), people


def relying_party(url: str, purposes: Sequence[Purpose]) -> str:
    """A client of the verify API allowed `purposes` (no transfer must be signed), in the
    migrated database at `url`; returns its API key."""
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        _, key = ClientService(time.time).create(session, "bench", purposes)
    engine.dispose()
    return key

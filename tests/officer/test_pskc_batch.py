"""A vendor-sized batch through the import service, in-process: 1,200 keys in one
transaction, and a batch that another officer imported first stores nothing twice."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from pskc import PSKC
from sqlalchemy import func, select

from hsm import Algorithm, Hsm, WrappedSeed
from server.db.engine import Database
from server.db.models import AuditEvent, Credential
from server.domain.audit.service import AuditLog
from server.domain.imports.pskc import PreSharedKey, read_pskc
from server.domain.imports.services import TokenImportService
from server.errors import Conflict

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not

KEYS = 1_200


@pytest.fixture
def service(hsm: Hsm, database_url: str) -> Iterator[tuple[TokenImportService, Database]]:
    db = Database.from_url(database_url)
    yield TokenImportService(db, hsm, AuditLog(hsm, time.time), time.time), db
    db.dispose()


def _batch(tmp_path: Path) -> tuple[bytes, PreSharedKey, dict[str, bytes]]:
    container = PSKC()
    seeds = {}
    for i in range(KEYS):
        serial = f"VND-{i:05d}"
        seeds[serial] = secrets.token_bytes(20)
        container.add_key(
            serial=serial,
            secret=seeds[serial],
            algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp",
            response_length=6,
            counter=0,
        )
    key = secrets.token_bytes(16)
    container.encryption.setup_preshared_key(key=key)
    path = tmp_path / "vendor.pskcxml"
    container.write(str(path))
    return path.read_bytes(), PreSharedKey(key), seeds


def _count(db: Database, table: type) -> int:
    with db.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_vendor_sized_batch_in_one_transaction(
    service: tuple[TokenImportService, Database], hsm: Hsm, tmp_path: Path
) -> None:
    importer, db = service
    data, key, seeds = _batch(tmp_path)
    plan = importer.plan(read_pskc(data, key), {}, hold_unassigned=True)
    assert plan.importable and len(plan.planned) == KEYS
    stale = importer.plan(read_pskc(data, key), {}, hold_unassigned=True)
    imported = importer.apply(plan, "officer:test", "vendor.pskcxml")
    assert len(imported) == KEYS and {i.username for i in imported} == {None}
    assert _count(db, Credential) == KEYS
    events = _count(db, AuditEvent)
    assert events == KEYS + 1

    # another officer's plan, made before the import, is refused as a whole
    with pytest.raises(Conflict, match="imported meanwhile: VND-00000"):
        importer.apply(stale, "officer:other", "vendor.pskcxml")
    assert (_count(db, Credential), _count(db, AuditEvent)) == (KEYS, events)
    replan = importer.plan(read_pskc(data, key), {}, hold_unassigned=True)
    assert len(replan.rejected) == KEYS and not replan.importable

    with db.reading() as connection:
        rows = connection.execute(
            select(
                Credential.serial,
                Credential.wrapped_seed,
                Credential.kek_version,
                Credential.seed_length,
            ).limit(50)
        ).all()
    for serial, blob, version, length in rows:
        sealed = WrappedSeed(bytes(blob), version, length)
        expected = pyotp.HOTP(_b32(seeds[serial])).at(0)
        assert hsm.otp_values(sealed, Algorithm.SHA1, 6, [0]) == [expected]


def _b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode()

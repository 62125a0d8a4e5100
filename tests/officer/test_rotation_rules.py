"""The rotation's rules, in-process on the officer token: a row changed meanwhile is never
overwritten, a rerun resumes, an unreadable blob is isolated, retirement is refused while
unsafe, and every step is audited."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from benchmarks.population import Holder, populate, seed_pool
from hsm import (
    Algorithm,
    Hsm,
    KeyAdministration,
    KeyInfo,
    KeyPurpose,
    OcraInput,
    OcraSuite,
    WrappedSeed,
)
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import AuditEvent, Credential
from server.domain.audit.service import AuditLog
from server.domain.keys.rotation import KeyRotation
from server.errors import Conflict, NotFound
from tests.oracles import oath_ocra
from tests.server.conftest import START, FakeClock
from tests.server.processes import PostgresCluster

ACTOR = "officer:test"
STEP = 1234


@dataclass
class Officer:
    db: Database
    hsm: Hsm
    clock: FakeClock
    holders: list[Holder]

    def rotation(self, hsm: KeyAdministration | None = None, **options: Any) -> KeyRotation:
        the_hsm = hsm or self.hsm
        return KeyRotation(self.db, the_hsm, AuditLog(self.hsm, self.clock), self.clock, **options)

    def row(self, public_id: str) -> Credential:
        with Session(self.db.engine) as session:
            return session.exec(select(Credential).where(Credential.public_id == public_id)).one()

    def code_of(self, public_id: str) -> str:
        row = self.row(public_id)
        sealed = WrappedSeed(row.wrapped_seed, row.kek_version, row.seed_length)
        return self.hsm.otp_values(sealed, Algorithm.SHA1, 6, [STEP])[0]

    def events(self, prefix: str = "key.") -> list[AuditEvent]:
        with Session(self.db.engine) as session:
            return list(
                session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.action).startswith(prefix))
                    .order_by(col(AuditEvent.seq))
                ).all()
            )


def expected(seed: bytes) -> str:
    return pyotp.HOTP(base64.b32encode(seed).decode()).at(STEP)


def kek_versions(hsm: Hsm) -> list[int]:
    hsm.reload_keys()
    return sorted(k.version for k in hsm.keys() if k.purpose is KeyPurpose.SEED_WRAPPING)


def make_officer(url: str, hsm: Hsm, count: int = 30) -> Iterator[Officer]:
    upgrade(url)
    hsm.reload_keys()
    holders = populate(url, seed_pool(hsm, 10), count)
    db = Database.from_url(url)
    yield Officer(db, hsm, FakeClock(START), holders)
    db.dispose()


@pytest.fixture
def officer(officer_hsm: Hsm, database_url: str) -> Iterator[Officer]:
    yield from make_officer(database_url, officer_hsm)


class InterferingHsm(KeyAdministration):
    """The real HSM, but before the first batch is re-wrapped `meanwhile` runs: another
    process changing rows between the rotation's read and its write."""

    def __init__(self, hsm: Hsm, meanwhile: Callable[[], None]) -> None:
        self._hsm = hsm
        self._meanwhile: Callable[[], None] | None = meanwhile

    def rewrap_seeds(
        self, seeds: Sequence[WrappedSeed], to_version: int | None = None
    ) -> list[WrappedSeed]:
        result = self._hsm.rewrap_seeds(seeds, to_version)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return result

    @property
    def token_label(self) -> str:
        return self._hsm.token_label

    def keys(self) -> list[KeyInfo]:
        return self._hsm.keys()

    def reload_keys(self) -> None:
        self._hsm.reload_keys()

    def create_kek(self) -> int:
        return self._hsm.create_kek()

    def destroy_kek(self, version: int) -> None:
        self._hsm.destroy_kek(version)


def _concurrent_change(officer: Officer) -> None:
    """Row 3 gets a new seed under the new KEK, row 4 a new seed under the old one, both
    written by 'someone else' while the first batch is in the HSM."""
    hsm, holders = officer.hsm, officer.holders
    old_version = officer.row(holders[0].public_id).kek_version
    seed_b, seed_c = b"B" * 20, b"C" * 20
    under_old = hsm.import_seed(seed_c, Algorithm.SHA1)  # wrapped before the new KEK exists
    assert under_old.kek_version == old_version
    changes: dict[str, tuple[bytes, WrappedSeed | None]] = {
        holders[3].public_id: (seed_b, None),
        holders[4].public_id: (seed_c, under_old),
    }
    rotation = officer.rotation(
        InterferingHsm(hsm, lambda: _write(officer, changes)), batch_size=10
    )
    plan = rotation.start(ACTOR)
    report = rotation.run(plan, ACTOR)

    assert report.skipped == 2
    assert report.rewrapped == len(holders) - 1  # row 4 on the next pass; row 3 is new
    assert report.remaining == 0 and report.unreadable == []
    assert {officer.row(h.public_id).kek_version for h in holders} == {plan.target}
    assert officer.code_of(holders[3].public_id) == expected(seed_b)
    assert officer.code_of(holders[4].public_id) == expected(seed_c)
    for holder in holders[5:]:
        assert officer.code_of(holder.public_id) == expected(holder.seed)


def _write(officer: Officer, changes: dict[str, tuple[bytes, WrappedSeed | None]]) -> None:
    with officer.db.engine.begin() as connection:
        for public_id, (seed, sealed) in changes.items():
            sealed = sealed or officer.hsm.import_seed(seed, Algorithm.SHA1)
            connection.execute(
                update(Credential)
                .where(col(Credential.public_id) == public_id)
                .values(
                    wrapped_seed=sealed.blob,
                    kek_version=sealed.kek_version,
                    seed_length=sealed.length,
                )
            )


def test_a_row_changed_meanwhile_is_never_overwritten(officer: Officer) -> None:
    _concurrent_change(officer)


def test_a_row_changed_meanwhile_is_never_overwritten_on_postgres(
    officer_hsm: Hsm, officer_postgres: PostgresCluster
) -> None:
    url = officer_postgres.create_database("rotation_rules")
    for the_officer in make_officer(url, officer_hsm):
        _concurrent_change(the_officer)


def test_a_rerun_resumes_instead_of_creating_another_kek(officer: Officer) -> None:
    before = kek_versions(officer.hsm)
    first = officer.rotation().start(ACTOR)  # ... and the process dies here
    assert first.created and first.target == before[-1] + 1
    assert first.pending == len(officer.holders)
    again = officer.rotation(batch_size=7).start(ACTOR)
    assert not again.created and again.target == first.target
    assert again.pending == len(officer.holders)
    assert kek_versions(officer.hsm) == [*before, first.target]
    report = officer.rotation(batch_size=7).run(again, ACTOR)
    assert (report.rewrapped, report.batches, report.remaining) == (30, 5, 0)
    actions = [(e.action, e.result) for e in officer.events()]
    assert actions == [
        ("key.create", "ok"),
        ("key.rotate", "started"),
        ("key.rotate", "resumed"),
        *[("key.rewrap", "ok")] * 5,
        ("key.rotate", "done"),
    ]
    assert {e.actor for e in officer.events()} == {ACTOR}


def test_a_kek_created_without_an_audit_event_is_recorded_on_resume(officer: Officer) -> None:
    created = officer.hsm.create_kek()  # e.g. killed between the HSM call and the commit
    plan = officer.rotation().start(ACTOR)
    assert (plan.created, plan.target) == (False, created)
    event = officer.events()[0]
    assert (event.action, event.subject) == ("key.create", f"otp-kek-v{created}")
    assert json.loads(event.details)["recorded_late"] is True


def test_an_unreadable_blob_is_isolated_and_blocks_retirement(officer: Officer) -> None:
    victim = officer.holders[12]
    old_version = officer.row(victim.public_id).kek_version
    blob = bytearray(officer.row(victim.public_id).wrapped_seed)
    blob[9] ^= 0x40
    with officer.db.engine.begin() as connection:
        connection.execute(
            update(Credential)
            .where(col(Credential.public_id) == victim.public_id)
            .values(wrapped_seed=bytes(blob))
        )
    rotation = officer.rotation(batch_size=10)
    report = rotation.run(rotation.start(ACTOR), ACTOR)
    assert report.unreadable == [victim.public_id]
    assert (report.rewrapped, report.remaining) == (29, 1)
    partial = [e for e in officer.events() if e.result == "partial"]
    assert len(partial) == 1 and victim.public_id in partial[0].details
    assert officer.events()[-1].result == "incomplete"
    officer.clock.advance(3600)
    with pytest.raises(Conflict, match="1 credential"):
        rotation.retire(old_version, ACTOR)


def test_retirement_is_refused_while_unsafe_and_every_attempt_is_audited(
    officer: Officer,
) -> None:
    rotation = officer.rotation()
    old = officer.row(officer.holders[0].public_id).kek_version
    with pytest.raises(Conflict, match="current KEK"):
        rotation.retire(old, ACTOR)
    plan = rotation.start(ACTOR)
    with pytest.raises(Conflict, match=f"30 credential\\(s\\) are still wrapped under KEK v{old}"):
        rotation.retire(old, ACTOR)
    rotation.run(plan, ACTOR)
    # a revoked credential still counts: its blob must stay readable for the records
    with officer.db.engine.begin() as connection:
        connection.execute(text("UPDATE credentials SET status = 'revoked' WHERE id = 1"))
    officer.clock.advance(30)
    with pytest.raises(Conflict, match="try again in 91 s"):
        rotation.retire(old, ACTOR)  # servers may not have seen the new KEK yet
    officer.clock.advance(91)
    rotation.retire(old, ACTOR)
    assert old not in kek_versions(officer.hsm)
    with pytest.raises(NotFound, match=f"no KEK v{old}"):
        rotation.retire(old, ACTOR)
    retires = [(e.result, e.reason) for e in officer.events("key.retire")]
    assert retires == [
        ("refused", "current_kek"),
        ("refused", "in_use"),
        ("refused", "too_early"),
        ("ok", ""),
    ]
    for holder in officer.holders:
        assert officer.code_of(holder.public_id) == expected(holder.seed)


# -- a credential's OCRA seed (issue 22) moves with its seed -------------------------------

OCRA_SUITE = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QA20-T1M")
OCRA_INPUT = OcraInput("00000012500000054321", time_step=OCRA_SUITE.time_step_at(1_796_117_400))


def _give_ocra_seed(officer: Officer, public_id: str, ocra: WrappedSeed) -> None:
    """What an enrollment stores beside the seed (same KEK version)."""
    assert ocra.kek_version == officer.row(public_id).kek_version
    with officer.db.engine.begin() as connection:
        connection.execute(
            update(Credential)
            .where(col(Credential.public_id) == public_id)
            .values(
                ocra_suite=OCRA_SUITE.text,
                ocra_wrapped_seed=ocra.blob,
                ocra_seed_length=ocra.length,
            )
        )


def _ocra_of(officer: Officer, public_id: str) -> WrappedSeed:
    row = officer.row(public_id)
    assert row.ocra_wrapped_seed is not None and row.ocra_seed_length is not None
    return WrappedSeed(row.ocra_wrapped_seed, row.kek_version, row.ocra_seed_length)


def _ocra_response(officer: Officer, public_id: str) -> str:
    return officer.hsm.ocra_responses(_ocra_of(officer, public_id), OCRA_SUITE, [OCRA_INPUT])[0]


def test_rotation_and_retirement_keep_the_ocra_seeds(officer: Officer) -> None:
    """Both blobs of a credential are re-wrapped in the same UPDATE: after the old KEK is
    destroyed, its OCRA responses are still computed (else its OCRA seed is lost)."""
    known = bytes(range(32))  # the OCRA seed of one credential, to check with python-oath
    officer.hsm.reload_keys()
    with_ocra = {
        officer.holders[0].public_id: officer.hsm.import_seed(known, Algorithm.SHA256),
        officer.holders[11].public_id: officer.hsm.generate_seed(Algorithm.SHA256),
        officer.holders[29].public_id: officer.hsm.generate_seed(Algorithm.SHA256),
    }
    for public_id, ocra in with_ocra.items():
        _give_ocra_seed(officer, public_id, ocra)
    before = {public_id: _ocra_response(officer, public_id) for public_id in with_ocra}
    oracle = oath_ocra(OCRA_SUITE.text, known, OCRA_INPUT.question, time_step=OCRA_INPUT.time_step)
    assert before[officer.holders[0].public_id] == oracle
    old = officer.row(officer.holders[0].public_id).kek_version

    rotation = officer.rotation(batch_size=7)
    plan = rotation.start(ACTOR)
    report = rotation.run(plan, ACTOR)
    assert (report.rewrapped, report.remaining, report.unreadable) == (30, 0, [])
    officer.clock.advance(3600)
    rotation.retire(old, ACTOR)
    assert old not in kek_versions(officer.hsm)

    for public_id, ocra in with_ocra.items():
        moved = _ocra_of(officer, public_id)
        assert moved.kek_version == plan.target and moved.blob != ocra.blob
        assert _ocra_response(officer, public_id) == before[public_id]
    for holder in officer.holders:
        assert officer.code_of(holder.public_id) == expected(holder.seed)
        if holder.public_id not in with_ocra:  # no OCRA seed: the columns stay empty
            row = officer.row(holder.public_id)
            assert (row.ocra_suite, row.ocra_wrapped_seed, row.ocra_seed_length) == (None,) * 3


def _ocra_changed_meanwhile(officer: Officer) -> None:
    """Another process gives row 2 a new OCRA seed while the batch is in the HSM: the row's
    TOTP blob is still as read, but the UPDATE must skip it, or the new OCRA seed (under
    the old KEK) would be replaced by the re-wrapped old one."""
    officer.hsm.reload_keys()
    victim = officer.holders[2].public_id
    _give_ocra_seed(officer, victim, officer.hsm.generate_seed(Algorithm.SHA256))
    newer = officer.hsm.generate_seed(Algorithm.SHA256)
    rotation = officer.rotation(
        InterferingHsm(officer.hsm, lambda: _give_ocra_seed(officer, victim, newer)),
        batch_size=10,
    )
    report = rotation.run(rotation.start(ACTOR), ACTOR)
    assert report.skipped == 1
    assert (report.rewrapped, report.remaining) == (30, 0)  # the next pass took it
    assert _ocra_of(officer, victim).kek_version == report.target
    assert (
        _ocra_response(officer, victim)
        == officer.hsm.ocra_responses(newer, OCRA_SUITE, [OCRA_INPUT])[0]
    )


def test_a_row_whose_ocra_seed_changed_meanwhile_is_never_overwritten(officer: Officer) -> None:
    _ocra_changed_meanwhile(officer)


def test_a_row_whose_ocra_seed_changed_meanwhile_is_never_overwritten_on_postgres(
    officer_hsm: Hsm, officer_postgres: PostgresCluster
) -> None:
    url = officer_postgres.create_database("rotation_ocra")
    for the_officer in make_officer(url, officer_hsm):
        _ocra_changed_meanwhile(the_officer)


def test_an_unreadable_ocra_blob_holds_its_whole_row_back(officer: Officer) -> None:
    officer.hsm.reload_keys()
    victim = officer.holders[5].public_id
    ocra = officer.hsm.generate_seed(Algorithm.SHA256)
    blob = bytearray(ocra.blob)
    blob[9] ^= 0x40
    _give_ocra_seed(officer, victim, WrappedSeed(bytes(blob), ocra.kek_version, ocra.length))
    old = officer.row(victim).kek_version
    old_blob = officer.row(victim).wrapped_seed
    rotation = officer.rotation(batch_size=10)
    report = rotation.run(rotation.start(ACTOR), ACTOR)
    assert report.unreadable == [victim]
    assert (report.rewrapped, report.remaining) == (29, 1)
    row = officer.row(victim)
    assert (row.kek_version, row.wrapped_seed) == (old, old_blob)  # neither blob moved

"""Importing a batch of hardware tokens: all of it in one transaction, or nothing.

Order of work, and why:

1. `plan`: read the file (python-pskc), check every key, match each serial to a customer
   (or to the unassigned stock), and refuse serials that are already in use. No HSM work, no
   writes: this is also the dry run.
2. `apply`: wrap every seed with `Hsm.import_seed` *before* the transaction. Wrapping has no
   side effect in the HSM (a session object is made, wrapped, destroyed), so when anything
   fails later the blobs are simply dropped; and no database write lock is held while the
   HSM works, so servers keep verifying. Then one transaction inserts every credential and
   its audit event, plus one event for the batch. If any key was rejected, any check fails
   or any write fails, nothing is stored.

Unassigned tokens: `credentials.customer_id` is NOT NULL in the current schema, so tokens
imported without a customer belong to a reserved, disabled holder customer and have the
status `unassigned`. Neither can verify a code: the verify path loads only active
credentials of active customers. `assign` later moves such a credential to a customer and
makes it active. (The schema change that removes the holder is described in
docs/officer.md.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlmodel import Session, col, select

from hsm import HsmError, InvalidSeedRequest, OtpEngine, WrappedSeed
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Credential, CredentialKind, CredentialStatus, Customer, CustomerStatus
from server.domain.audit.rules import AuditRecord
from server.domain.audit.service import AuditLog
from server.domain.credentials.rules import clear_lockout
from server.domain.credentials.service import new_public_id
from server.domain.customers.rules import normalise_username
from server.domain.customers.service import CustomerService
from server.domain.imports.pskc import PskcBatch, PskcToken, RejectedKey
from server.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable

UNASSIGNED = "unassigned"
"""Status of an imported credential that no customer holds yet (never verifies)."""
HOLDER_USERNAME = "~unassigned"
"""The reserved, disabled customer that holds unassigned credentials. The `~` cannot occur
in a real username, so no customer can ever be created or log in under this name."""
# Not an Argon2 hash: no password ever matches it.
_HOLDER_PASSWORD_HASH = "!unusable"  # noqa: S105 - a deliberately unusable hash
_BLOCKING = (CredentialStatus.ACTIVE.value, UNASSIGNED)


@dataclass(frozen=True)
class PlannedToken:
    """A key that will be imported, and for whom (None: unassigned)."""

    token: PskcToken
    username: str | None


@dataclass
class ImportPlan:
    """The outcome of checking a batch against the database.

    Attributes:
        batch: what the file held.
        planned: keys that would be imported.
        rejected: keys that cannot be (from the file, or a serial already in use).
        problems: reasons the whole import cannot go ahead (unknown customers, ...).
        hold_unassigned: keys without a customer become unassigned stock.
    """

    batch: PskcBatch
    hold_unassigned: bool = False
    planned: list[PlannedToken] = field(default_factory=list)
    rejected: list[RejectedKey] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def importable(self) -> bool:
        """True when `apply` would store every key of the file."""
        return bool(self.planned) and not self.rejected and not self.problems


@dataclass(frozen=True)
class ImportedCredential:
    """One credential stored by `apply`."""

    public_id: str
    serial: str
    username: str | None


class ImportRefused(InvalidInput):
    """The batch cannot be imported as a whole; `plan` says why."""

    def __init__(self, plan: ImportPlan) -> None:
        count = len(plan.rejected) + len(plan.problems)
        super().__init__(f"nothing imported: {count} problem(s) in the batch")
        self.plan = plan


class TokenImportService:
    """Plans and applies PSKC imports; assigns unassigned tokens to customers."""

    def __init__(self, db: Database, hsm: OtpEngine, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._clock = clock

    def plan(
        self,
        batch: PskcBatch,
        assignments: Mapping[str, str],
        *,
        hold_unassigned: bool = False,
    ) -> ImportPlan:
        """Check `batch` against the database without changing anything (the dry run).

        Args:
            batch: the keys read from the file.
            assignments: serial → username of the customer who gets that token.
            hold_unassigned: keep keys without an assignment as unassigned stock; otherwise
                every key needs a customer.
        """
        plan = ImportPlan(batch, hold_unassigned, rejected=list(batch.rejected))
        serials = [t.serial for t in batch.tokens] + [r.serial for r in batch.rejected]
        unknown = sorted(set(assignments) - set(serials))
        if unknown:
            plan.problems.append(f"assigned serials not in the file: {', '.join(unknown)}")
        duplicates = {serial for serial, n in Counter(serials).items() if n > 1}
        with self._db.reading() as connection:
            in_use: dict[str, str] = {}
            for chunk in _chunks([t.serial for t in batch.tokens]):
                rows = connection.execute(
                    select(col(Credential.serial), col(Credential.public_id))
                    .where(col(Credential.serial).in_(chunk))
                    .where(col(Credential.status).in_(_BLOCKING))
                ).all()
                in_use.update((str(serial), public_id) for serial, public_id in rows)
            wanted = sorted({normalise_username(u) for u in assignments.values()})
            found: dict[str, str] = {}
            for chunk in _chunks(wanted):
                found.update(
                    connection.execute(
                        select(col(Customer.username), col(Customer.status)).where(
                            col(Customer.username).in_(chunk)
                        )
                    ).all()
                )
        for name in wanted:
            if name not in found:
                plan.problems.append(f"no customer {name!r}")
            elif found[name] != CustomerStatus.ACTIVE:
                plan.problems.append(f"customer {name!r} is {found[name]}")
        missing = []
        for token in batch.tokens:
            if token.serial in duplicates:
                plan.rejected.append(
                    RejectedKey(token.serial, token.key_id, "serial appears twice in the file")
                )
            elif token.serial in in_use:
                plan.rejected.append(
                    RejectedKey(
                        token.serial,
                        token.key_id,
                        f"serial already imported (credential {in_use[token.serial]})",
                    )
                )
            else:
                username = assignments.get(token.serial)
                if username is None and not hold_unassigned:
                    missing.append(token.serial)
                owner = normalise_username(username) if username else None
                plan.planned.append(PlannedToken(token, owner))
        if missing:
            plan.problems.append(
                f"no customer for serial(s) {', '.join(missing)}: assign them, or keep them "
                "as unassigned stock"
            )
        if not batch.tokens and not batch.rejected:
            plan.problems.append(
                "no key of the file is valid now" if batch.skipped else "the file holds no key"
            )
        return plan

    def apply(
        self,
        plan: ImportPlan,
        actor: str,
        source: str,
        on_progress: Callable[[int], None] = lambda _n: None,
    ) -> list[ImportedCredential]:
        """Wrap every seed in the HSM, then store the whole batch in one transaction.

        Args:
            plan: from `plan`; refused unless `plan.importable`.
            actor: who imports, for the audit trail.
            source: the file name, for the audit trail.
            on_progress: called with 1 after each seed is wrapped.

        Raises:
            ImportRefused: the plan has rejected keys or problems; nothing was stored.
            Conflict: a serial was imported by someone else meanwhile; nothing was stored.
            ServiceUnavailable: the HSM cannot be used; nothing was stored.
        """
        if not plan.importable:
            raise ImportRefused(plan)
        sealed: list[WrappedSeed] = []
        for item in plan.planned:
            try:
                sealed.append(
                    self._hsm.import_seed(
                        item.token.seed, item.token.algorithm, allow_short=item.token.short_seed
                    )
                )
            except InvalidSeedRequest as exc:
                raise InvalidInput(f"serial {item.token.serial}: {exc}") from exc
            except HsmError as exc:
                raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
            on_progress(1)
        with self._db.transaction() as session:
            return self._store(session, plan, sealed, actor, source)

    def _store(
        self,
        session: Session,
        plan: ImportPlan,
        sealed: Sequence[WrappedSeed],
        actor: str,
        source: str,
    ) -> list[ImportedCredential]:
        taken: list[str] = []
        for chunk in _chunks([item.token.serial for item in plan.planned]):
            taken += map(
                str,
                session.exec(
                    select(Credential.serial)
                    .where(col(Credential.serial).in_(chunk))
                    .where(col(Credential.status).in_(_BLOCKING))
                ).all(),
            )
        if taken:
            raise Conflict(f"serial(s) imported meanwhile: {', '.join(sorted(taken))}")
        owners = self._owners(session, plan)
        now = self._clock()
        rows: list[dict[str, object]] = []
        records: list[AuditRecord] = []
        imported: list[ImportedCredential] = []
        for item, wrapped in zip(plan.planned, sealed, strict=True):
            token = item.token
            public_id = new_public_id()
            # An OCRA key is the credential's only seed: the same blob in both columns, so
            # that whatever reads the OCRA seed finds it there (docs/officer.md).
            ocra = token.suite is not None
            rows.append(
                {
                    "public_id": public_id,
                    "customer_id": owners[item.username],
                    "kind": token.kind.value,
                    "serial": token.serial,
                    "wrapped_seed": wrapped.blob,
                    "kek_version": wrapped.kek_version,
                    "seed_length": wrapped.length,
                    "algorithm": token.algorithm.value,
                    "digits": token.digits,
                    "period": token.period,
                    "ocra_suite": token.suite.text if token.suite is not None else None,
                    "ocra_wrapped_seed": wrapped.blob if ocra else None,
                    "ocra_seed_length": wrapped.length if ocra else None,
                    "last_step": token.counter - 1 if token.kind == CredentialKind.HOTP else -1,
                    "drift": token.drift,
                    "failure_count": 0,
                    "lockouts": 0,
                    "status": CredentialStatus.ACTIVE if item.username else UNASSIGNED,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            records.append(
                AuditRecord(
                    actor=actor,
                    action="credential.import",
                    subject=item.username or HOLDER_USERNAME,
                    result="ok",
                    details={
                        "credential": public_id,
                        "serial": token.serial,
                        "kind": token.kind.value,
                        "algorithm": token.algorithm.value,
                        "source": "pskc",
                        "seed_bits": len(token.seed) * 8,
                        **({"ocra_suite": token.suite.text} if token.suite is not None else {}),
                        **({"short_seed_policy": "allowed"} if token.short_seed else {}),
                    },
                )
            )
            imported.append(ImportedCredential(public_id, token.serial, item.username))
        records.append(
            AuditRecord(
                actor=actor,
                action="credential.import-batch",
                subject=source[-150:],
                result="ok",
                details={
                    "file_sha256": plan.batch.digest,
                    "protection": plan.batch.protection,
                    "imported": len(imported),
                    "unassigned": sum(1 for i in imported if i.username is None),
                    "skipped": len(plan.batch.skipped),
                    "signature": "verified" if plan.batch.signed else "none",
                    "short_seeds": sum(1 for item in plan.planned if item.token.short_seed),
                    "ocra": sum(1 for item in plan.planned if item.token.suite is not None),
                },
            )
        )
        # One executemany for the rows, and one append for the events: the audit head is
        # read, moved and sealed by the HSM once per batch, not once per token.
        connection = session.connection()
        connection.execute(insert(Credential), rows)
        self._audit.append_many(connection, records)
        return imported

    def _owners(self, session: Session, plan: ImportPlan) -> dict[str | None, int]:
        """Customer ids by username (None: the holder of unassigned stock)."""
        names = {item.username for item in plan.planned if item.username}
        owners: dict[str | None, int] = {}
        for chunk in _chunks(sorted(names)):
            for customer in session.exec(select(Customer).where(col(Customer.username).in_(chunk))):
                if customer.status != CustomerStatus.ACTIVE or customer.id is None:
                    raise Conflict(f"customer {customer.username!r} is {customer.status}")
                owners[customer.username] = customer.id
        absent = names - set(owners)
        if absent:
            raise NotFound(f"no customer {sorted(absent)[0]!r}")
        if any(item.username is None for item in plan.planned):
            owners[None] = self._holder(session)
        return owners

    def _holder(self, session: Session) -> int:
        holder = session.exec(select(Customer).where(Customer.username == HOLDER_USERNAME)).first()
        if holder is None:
            holder = Customer(
                username=HOLDER_USERNAME,
                email="unassigned-tokens@invalid",
                display_name="Unassigned hardware tokens",
                password_hash=_HOLDER_PASSWORD_HASH,
                status=CustomerStatus.DISABLED,
                created_at=self._clock(),
            )
            session.add(holder)
            session.flush()
        assert holder.id is not None  # noqa: S101 - flushed above
        return holder.id

    # -- assigning stock ---------------------------------------------------------------------

    def unassigned(self, session: Session) -> list[Credential]:
        """Imported credentials that no customer holds yet, oldest first."""
        return list(
            session.exec(
                select(Credential)
                .where(Credential.status == UNASSIGNED)
                .order_by(col(Credential.id))
            ).all()
        )

    def assign(self, session: Session, serial: str, username: str, actor: str) -> Credential:
        """Give the unassigned token `serial` to customer `username` and make it active.

        Raises:
            NotFound: no unassigned token with this serial, or no such customer.
            Conflict: the customer is not active.
        """
        credential = session.exec(
            select(Credential)
            .where(Credential.serial == serial)
            .where(Credential.status == UNASSIGNED)
        ).first()
        if credential is None:
            raise NotFound(f"no unassigned token with serial {serial!r}")
        customer = CustomerService.get(session, username)
        if customer.username == HOLDER_USERNAME:
            raise NotFound(f"no customer {HOLDER_USERNAME!r}")
        if customer.status != CustomerStatus.ACTIVE or customer.id is None:
            raise Conflict(f"customer {customer.username!r} is {customer.status}")
        credential.customer_id = customer.id
        credential.status = CredentialStatus.ACTIVE
        clear_lockout(credential, self._clock())
        session.add(credential)
        self._audit.record(
            session.connection(),
            actor=actor,
            action="credential.assign",
            subject=customer.username,
            result="ok",
            details={"credential": credential.public_id, "serial": serial},
        )
        return credential


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`values` in slices small enough for any database's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]

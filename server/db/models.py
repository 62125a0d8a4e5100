"""Tables. Times are Unix seconds (float) so that an injected clock drives everything."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class CredentialStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # by an officer or the customer
    RETIRED = "retired"  # replaced by a newer token


class DeviceStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # lost or stolen: its key never enrolls again


class CredentialKind(enum.StrEnum):
    TOTP = "totp"
    HOTP = "hotp"
    OCRA = "ocra"


class Customer(SQLModel, table=True):
    """A bank customer who can hold credentials."""

    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=150, unique=True, index=True)
    email: str = Field(max_length=254)
    display_name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=200)
    status: str = Field(default=CustomerStatus.ACTIVE, max_length=16)
    created_at: float


class Device(SQLModel, table=True):
    """A customer's hardware token or emulator, known by its device ID."""

    __tablename__ = "devices"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32, unique=True, index=True)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="active", max_length=16)
    created_at: float


class Credential(SQLModel, table=True):
    """An OTP seed (wrapped under a KEK version) and its verification state."""

    __tablename__ = "credentials"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=40, unique=True, index=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    device_id: int | None = Field(default=None, foreign_key="devices.id", index=True)
    kind: str = Field(default=CredentialKind.TOTP, max_length=8)
    serial: str | None = Field(default=None, max_length=64)
    wrapped_seed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    kek_version: int = Field(index=True)
    seed_length: int
    algorithm: str = Field(default="SHA1", max_length=8)
    digits: int = 6
    period: int = 60
    ocra_suite: str | None = Field(default=None, max_length=64)
    """The OCRA suite (RFC 6287) of its OCRA seed; None: the credential has none (made
    before transaction signing, or imported)."""
    ocra_wrapped_seed: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    """The OCRA seed wrapped under KEK `kek_version`, the same as `wrapped_seed`."""
    ocra_seed_length: int | None = None
    last_step: int = Field(default=-1, sa_column=Column(BigInteger, nullable=False))
    """TOTP: the last accepted time step. HOTP: the last accepted counter."""
    drift: int = 0
    """TOTP: steps the token's clock is ahead of ours, as last measured."""
    failure_count: int = 0
    lockouts: int = 0
    locked_until: float | None = None
    # no index: three values, and SQLite (which keeps no statistics) would walk every
    # active credential through it instead of looking customers up by username
    status: str = Field(default=CredentialStatus.ACTIVE, max_length=16)
    created_at: float
    updated_at: float


class RelyingParty(SQLModel, table=True):
    """A bank system allowed to call the verify API with its own API key."""

    __tablename__ = "relying_parties"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    key_id: str = Field(max_length=32, unique=True, index=True)
    key_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    purposes: str = Field(max_length=200)
    """Comma-separated purposes this client may verify codes for."""
    sign_transfers_above: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    """Cents: a transfer of more than this must be signed on the token (a response over
    its amount and payee); a plain code for it is rejected. None: a plain code will do."""
    status: str = Field(default="active", max_length=16)
    created_at: float


class AuditEvent(SQLModel, table=True):
    """One link of the audit hash chain."""

    __tablename__ = "audit_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: float
    actor: str = Field(max_length=120)
    action: str = Field(max_length=40, index=True)
    subject: str = Field(default="", max_length=150)  # not indexed: see migration 0005
    purpose: str = Field(default="", max_length=20)
    result: str = Field(default="", max_length=20)
    reason: str = Field(default="", max_length=40)
    source: str = Field(default="", max_length=100)
    details: str = Field(default="{}")
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The newest link of the chain, and the newest link sealed by the HSM; one row (id 1).

    `seq`/`hash` follow every append. `sealed_seq`/`sealed_hash`/`mac` move only when the
    HSM MACs the head, so an HSM outage leaves a visible unsealed tail instead of a gap.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)
    sealed_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    sealed_hash: str = Field(max_length=64)
    mac: str | None = Field(default=None, max_length=64)
    """HMAC-SHA256 by the HSM audit key over (sealed_seq, sealed_hash)."""
    key_version: int | None = None


class SourceFailures(SQLModel, table=True):
    """Failed verifications per source and time window, for the per-source rate limit."""

    __tablename__ = "source_failures"
    __table_args__ = (UniqueConstraint("source", "window"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=140)
    window: int = Field(sa_column=Column(BigInteger, nullable=False))
    failures: int = 0


class GuessBudgets(SQLModel, table=True):
    """Wrong-guess budgets (docs/design.md §4): one token bucket per credential and pool
    ("c12:anonymous", "c12:authenticated", "c12:context:<digest>" for a context where the
    customer got in), and per username without a credential ("u:name:anonymous"), so that
    the answers do not tell whether a customer exists. A missing row is a full bucket; rows
    long untouched are pruned."""

    __tablename__ = "guess_budgets"

    key: str = Field(primary_key=True, max_length=200)
    tokens: float
    updated_at: float = Field(index=True)
    last_success: float | None = None


class SignatureUse(SQLModel, table=True):
    """A transfer signature that was accepted: the credential, the OCRA time step and the
    question (amount and payee, docs/protocol.md §6). A response counts once: the same
    one again is a replay; another transfer in the same minute has its own question.
    Rows are pruned a day later, far past any window they could be accepted in again."""

    __tablename__ = "signature_uses"

    credential_id: int = Field(foreign_key="credentials.id", primary_key=True)
    time_step: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    question: str = Field(primary_key=True, max_length=128)
    used_at: float = Field(index=True)


class EnrollmentStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"


class Registration(SQLModel, table=True):
    """A self-registration waiting for its e-mailed code (the PaySecure flow)."""

    __tablename__ = "registrations"

    id: str = Field(primary_key=True, max_length=40)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    device_id: str = Field(max_length=32)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    code_digest: str = Field(max_length=64)
    """HMAC-SHA256 of the code by the HSM: the code itself is never stored."""
    attempts: int = 0
    expires_at: float
    status: str = Field(default=EnrollmentStatus.PENDING, max_length=16)
    credential_id: str | None = Field(default=None, max_length=40)
    created_at: float
    completed_at: float | None = None


class Activation(SQLModel, table=True):
    """An activation code shown in the portal, waiting for the token (the INVEX flow)."""

    __tablename__ = "activations"

    id: str = Field(primary_key=True, max_length=40)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    device_id: str = Field(max_length=32, index=True)
    token_kind: str = Field(max_length=16)
    code_digest: str = Field(max_length=64)
    attempts: int = 0
    expires_at: float
    status: str = Field(default=EnrollmentStatus.PENDING, max_length=16, index=True)
    credential_id: str | None = Field(default=None, max_length=40)
    created_at: float
    completed_at: float | None = None


class RequestNonce(SQLModel, table=True):
    """Nonces of signed token requests seen recently: a captured request cannot be replayed."""

    __tablename__ = "request_nonces"

    nonce: str = Field(primary_key=True, max_length=64)
    seen_at: float = Field(index=True)


class PortalSession(SQLModel, table=True):
    """A customer's portal session, kept by the server so that it can be ended at once.

    The browser's cookie holds a random 256-bit id; only its SHA-256 is stored, so a copy
    of this table opens no session. `authenticated_at` is None while the login waits for
    the token's code. An ended session keeps its row, with when and why it ended.
    """

    __tablename__ = "portal_sessions"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True, index=True)
    """SHA-256 (hex) of the id in the cookie; the id itself is never stored."""
    public_id: str = Field(max_length=24, unique=True)
    """An opaque name for the session, safe to show in the portal's forms."""
    customer_id: int = Field(foreign_key="customers.id", index=True)
    created_at: float
    authenticated_at: float | None = None
    last_seen_at: float
    user_agent: str = Field(default="", max_length=80)
    """A summary of the browser ("Chrome · Linux"), never the whole header."""
    client_address: str = Field(default="", max_length=100)
    ended_at: float | None = None
    ended_reason: str | None = Field(default=None, max_length=40)

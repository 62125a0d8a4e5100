"""What the readiness probe answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HsmReadiness:
    """The HSM part of readiness: what is in use, or why it cannot be used."""

    ok: bool
    reason: str | None = None
    module: str | None = None
    token_label: str | None = None
    manufacturer: str | None = None
    key_versions: dict[str, list[int]] = field(default_factory=dict)
    missing_guarantees: list[str] = field(default_factory=list)
    """Extraction attempts that got through and that no officer accepted (docs/hsm.md)."""
    accepted_weaknesses: list[str] = field(default_factory=list)
    """Extraction attempts that got through and that the officer accepted (audited)."""


@dataclass
class DatabaseReadiness:
    """The database part of readiness."""

    ok: bool
    reason: str | None = None
    dialect: str | None = None
    revision: str | None = None


@dataclass
class Readiness:
    """`status` is `ready` or `unavailable`."""

    status: str
    hsm: HsmReadiness
    database: DatabaseReadiness | None = None

"""How to reach the HSM: module, token and PIN."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class HsmConfig:
    """Where the PKCS#11 module and token are and how to log in.

    Attributes:
        module: path of the PKCS#11 shared library.
        token_label: label of the token holding the keys (SoftHSM gives random slot ids,
            so the token is always chosen by label).
        user_pin: the user PIN; never shown in repr or logs.
        seed_cache_size: unwrapped seed handles kept per process (0 turns the cache off).
        reconnect_interval: seconds to wait between attempts to re-open an HSM that failed.
        key_refresh_interval: seconds between scans of the token for keys added by others
            (an officer's new KEK version becomes current in running servers after this).
        so_pin: the security officer's PIN, for officer tools only (making a KEK: see
            `hsm.trusted_kek`); a server is never given it. Never shown.
        kek_without_officer: make a new KEK in the user's session when no SO PIN is given,
            for an HSM whose security officer cannot make keys (NSS softokn): the KEK is
            not trusted, and the extraction proof reports what that lets out.
        call_timeout: seconds a caller waits for an HSM operation (None: for ever). A hung
            network HSM then makes calls fail with HsmUnavailable instead of hanging every
            request; while the hung call is still running, later calls fail at once.
    """

    module: Path
    token_label: str
    user_pin: str = field(repr=False)
    seed_cache_size: int = 4096
    reconnect_interval: float = 1.0
    key_refresh_interval: float = 60.0
    call_timeout: float | None = 10.0
    so_pin: str | None = field(default=None, repr=False)
    kek_without_officer: bool = False
    accepted_weaknesses: frozenset[str] = frozenset()
    """Guarantees of `hsm.extraction` the officer accepts as missing on this HSM (each
    named; the server logs and audits them at start). Any other missing one makes the
    HSM unready."""

"""What the token keeps and what the bank sends it: credentials, token data, vault status.

All records are frozen dataclasses that check their own fields, so a bad value is refused
where it is made (`InvalidRecord`), never deep inside a screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from device_firmware.core.catalog import Language
from device_firmware.core.errors import InvalidRecord
from device_firmware.core.transfers import SUITE as TRANSFER_SUITE

MIN_SEED_BYTES = 16  # RFC 4226 R6: at least 128 bits
MAX_SEED_BYTES = 128
MIN_DIGITS = 6
MAX_DIGITS = 8
OCRA_SUITES = (TRANSFER_SUITE,)
"""The OCRA suites this token computes (docs/protocol.md §6)."""


class Algorithm(enum.StrEnum):
    """The HMAC hash of a credential (RFC 6238 §1.2)."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"

    @property
    def hashlib_name(self) -> str:
        """The name `hashlib` (and pyotp's `digest`) knows this hash by."""
        return self.value.lower()


class VaultProtection(enum.StrEnum):
    """What keeps the vault's secrets from someone who copies the token's storage.

    The "About" screen says which one this token has, so a customer (or a bank's tester)
    can tell a token whose PIN is guarded by hardware from one whose PIN can be searched
    offline.
    """

    FILE = "file"
    """Sealed in a file under a key derived from the PIN (`vault.FileVault`): a copy of the
    storage lets the PIN be searched offline, at the KDF's price per guess. The weaker one."""
    TPM = "tpm"
    """Sealed by a TPM that counts wrong PINs itself: a copy of the storage is useless."""


@dataclass(frozen=True)
class Credential:
    """One bank user's OTP credential, as the vault keeps it.

    Attributes:
        credential_id: the bank's id of this credential (used to delete it).
        issuer: the bank's name.
        username: the online-banking username it belongs to.
        display_name: the name the user list shows (falls back to `username`).
        seed: the shared secret; never shown in repr.
        algorithm: HMAC hash.
        digits: code length, 6 to 8.
        period: TOTP step in seconds.
        ocra_suite: the OCRA suite the credential signs transfers with, or None when the
            bank has not enabled transaction signing for it.
        ocra_seed: the OCRA key (a seed of its own, never the TOTP seed), present exactly
            when `ocra_suite` is; never shown in repr.
    """

    credential_id: str
    issuer: str
    username: str
    display_name: str
    seed: bytes = field(repr=False)
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 60
    ocra_suite: str | None = None
    ocra_seed: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.credential_id:
            raise InvalidRecord("a credential needs the bank's credential id")
        if not self.username:
            raise InvalidRecord("a credential needs the username it belongs to")
        if not MIN_SEED_BYTES <= len(self.seed) <= MAX_SEED_BYTES:
            raise InvalidRecord(
                f"a seed has {MIN_SEED_BYTES} to {MAX_SEED_BYTES} bytes, not {len(self.seed)}"
            )
        if not isinstance(self.algorithm, Algorithm):
            raise InvalidRecord(f"unknown OTP algorithm {self.algorithm!r}")
        if not MIN_DIGITS <= self.digits <= MAX_DIGITS:
            raise InvalidRecord(
                f"a code has {MIN_DIGITS} to {MAX_DIGITS} digits, not {self.digits}"
            )
        if self.period <= 0:
            raise InvalidRecord("a TOTP period is a positive number of seconds")
        self._check_ocra()

    def _check_ocra(self) -> None:
        if (self.ocra_suite is None) != (self.ocra_seed is None):
            raise InvalidRecord("an OCRA seed comes with its suite, and a suite with its seed")
        if self.ocra_suite is not None and self.ocra_suite not in OCRA_SUITES:
            raise InvalidRecord(f"OCRA suite {self.ocra_suite!r} is not one this token computes")
        if (
            self.ocra_seed is not None
            and not MIN_SEED_BYTES <= len(self.ocra_seed) <= MAX_SEED_BYTES
        ):
            raise InvalidRecord(
                f"an OCRA seed has {MIN_SEED_BYTES} to {MAX_SEED_BYTES} bytes, "
                f"not {len(self.ocra_seed)}"
            )

    @property
    def signs_transfers(self) -> bool:
        """The bank has enabled transaction signing for this credential."""
        return self.ocra_seed is not None

    @property
    def label(self) -> str:
        """The name shown for this user: the display name, else the username."""
        return self.display_name or self.username


@dataclass(frozen=True)
class ProvisionedCredential:
    """What the bank returns once a registration or activation succeeds.

    Attributes:
        credential: the new credential, seed already unwrapped by the link adapter.
        server_time: the bank's Unix time when it answered (the clock offset comes from it).
    """

    credential: Credential
    server_time: float


@dataclass(frozen=True)
class RegistrationHandle:
    """A registration the bank has started: it e-mailed a code and waits for it back.

    Attributes:
        handle: the bank's opaque reference to the pending registration.
        masked_email: where the code went, masked by the bank (`j***@mail.com`).
        expires_at: Unix time after which the code is refused.
    """

    handle: str = field(repr=False)
    masked_email: str
    expires_at: float


@dataclass(frozen=True)
class TokenData:
    """Everything the vault seals: the users' credentials and the learned clock offset.

    Attributes:
        credentials: one per registered bank user, in the order they were added.
        clock_offset: seconds to add to the token's clock to get the bank's time.
    """

    credentials: tuple[Credential, ...] = ()
    clock_offset: float = 0.0

    def find(self, credential_id: str) -> Credential | None:
        """The credential with this id, or None."""
        return next((c for c in self.credentials if c.credential_id == credential_id), None)

    def with_credential(self, credential: Credential) -> TokenData:
        """Add `credential`, replacing one with the same id or the same bank user.

        The bank keeps one token per user: registering the user again retires the old
        credential, so the token keeps only the newest.
        """
        kept = tuple(
            c
            for c in self.credentials
            if c.credential_id != credential.credential_id
            and (c.issuer, c.username) != (credential.issuer, credential.username)
        )
        return replace(self, credentials=(*kept, credential))

    def without(self, credential_id: str) -> TokenData:
        """Remove the credential with this id (no change if absent)."""
        kept = tuple(c for c in self.credentials if c.credential_id != credential_id)
        return replace(self, credentials=kept)

    def with_clock_offset(self, offset: float) -> TokenData:
        """The same data with a new clock offset."""
        return replace(self, clock_offset=offset)


@dataclass(frozen=True)
class VaultStatus:
    """What the vault tells before any PIN is typed.

    Attributes:
        exists: a vault has been created (a PIN was defined) and not wiped.
        attempts_allowed: wrong PINs allowed before the wipe (default 1).
        attempts_used: attempts counted since the last right PIN (including one
            interrupted by a power cut).
        language: the language chosen for the screens.
    """

    exists: bool
    attempts_allowed: int
    attempts_used: int
    language: Language

    @property
    def attempts_remaining(self) -> int:
        """PIN attempts left before the vault is destroyed."""
        return max(0, self.attempts_allowed - self.attempts_used)

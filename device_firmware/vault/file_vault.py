"""`FileVault`: the token's `Vault` port on an ordinary directory (the Pi's SD card).

Three files, each replaced atomically (`storage.DirectoryStorage`):

- ``vault.bin`` — the credentials and the clock offset, sealed (`sealed`: AES-256-GCM under
  a random data key, the data key wrapped under Argon2id(PIN); scrypt(PIN) in vaults made
  before format 2, which `unlock` upgrades).
- ``status.json`` — what must be known before the PIN: the PIN attempts used and the
  language of the screens. Not secret; an attacker who can edit it can copy the SD card and
  brute-force the PIN anyway (see `sealed`).
- ``identity.der`` — the device's EC P-256 private key, PKCS#8, not encrypted. It lives
  outside the sealed vault because it must exist before there is a PIN: the device ID is
  shown (and typed into the bank's portal) at first start, while the PIN is defined only at
  the end of enrolment, and a power cut in between must not change the ID. Encrypting it under
  the PIN later would add little: the key only protects seed *transport* (an attacker needs
  the recorded provisioning exchange too), and anyone who can read it can also brute-force the
  4-digit PIN offline. A hardware-backed `Vault` keeps this key inside the secure element.

The HTTP link keeps one more file here, ``provisioning-key.json`` (the bank's provisioning
key pinned at first contact, `device_firmware.link.pinning`); the vault neither reads nor
destroys it.

Wrong PINs: `unlock` writes the incremented attempt counter durably *before* deriving the key,
so cutting the power after a wrong guess still counts it (and cutting it after a right one
counts it too, until the next right PIN resets it: the safe side). When the allowed attempts
are used up, the vault and the identity are destroyed (overwritten, then removed), a new
identity is made, and `VaultWiped` is raised. The status file keeps the language.

Old vaults: a format-1 vault (scrypt) opens as before; right after its right PIN, `unlock`
wraps the same data key under Argon2id at this vault's `kdf_cost` and replaces ``vault.bin``
atomically, so a power cut leaves the old file or the new one, each opening with the PIN.
Should that write fail, the unlock still succeeds and the vault stays on scrypt until the next.

This is the weaker vault (`protection` is `VaultProtection.FILE`): everything an offline
attack needs is on the card, and only the KDF's price per guess stands in the way (`kdf`).

Everything damaged, altered or unknown raises `VaultUnreadable`; a failed write raises
`StorageFailed` and leaves the previous file in place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from device_firmware.core.catalog import Language
from device_firmware.core.errors import (
    InvalidRecord,
    StorageFailed,
    VaultStateError,
    VaultUnreadable,
    VaultWiped,
    WrongPin,
)
from device_firmware.core.records import TokenData, VaultProtection, VaultStatus
from device_firmware.vault import contents, sealed
from device_firmware.vault.identity import DeviceIdentity
from device_firmware.vault.kdf import Argon2Cost, default_argon2_cost
from device_firmware.vault.sealed import DataKey, PinRefused
from device_firmware.vault.storage import Checkpoint, DirectoryStorage

VAULT_FILE = "vault.bin"
STATUS_FILE = "status.json"
IDENTITY_FILE = "identity.der"
STATUS_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Status:
    attempts_used: int = 0
    language: Language = Language.ES


class FileVault:
    """The `Vault` port on a directory.

    Args:
        directory: where the three files live (created 0700 if missing).
        attempts_allowed: wrong PINs allowed before the wipe (the bank's app allows 1).
        kdf_cost: Argon2id cost for vaults created or upgraded from now on (existing
            vaults keep theirs); None: `kdf.default_argon2_cost()`, calibrated on this
            machine to about a second, measured the first time a vault needs it.
        checkpoint: tests only: called after each durable step of every write.

    Raises:
        InvalidRecord: `attempts_allowed` is below 1.
        StorageFailed: the directory cannot be used.
    """

    def __init__(
        self,
        directory: Path,
        *,
        attempts_allowed: int = 1,
        kdf_cost: Argon2Cost | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        if attempts_allowed < 1:
            raise InvalidRecord("at least one PIN attempt must be allowed")
        self.attempts_allowed = attempts_allowed
        self._kdf_cost = kdf_cost
        self._storage = DirectoryStorage(directory, checkpoint=checkpoint)
        self._identity: DeviceIdentity | None = None
        self._key: DataKey | None = None

    @property
    def directory(self) -> Path:
        """The directory the vault's files live in."""
        return self._storage.directory

    @property
    def kdf_cost(self) -> Argon2Cost:
        """The Argon2id cost of vaults made or upgraded from now on (calibrated if need be)."""
        if self._kdf_cost is None:
            self._kdf_cost = default_argon2_cost()
        return self._kdf_cost

    @property
    def protection(self) -> VaultProtection:
        """`VaultProtection.FILE`: the PIN's only defence against a copy of the card is the
        KDF's cost."""
        return VaultProtection.FILE

    @property
    def unlocked(self) -> bool:
        """The data key is in memory (after `create` or a right PIN, until `lock`)."""
        return self._key is not None

    def identity(self) -> DeviceIdentity:
        """The device identity, made and stored on first use.

        Raises:
            VaultUnreadable: the stored identity is damaged.
            StorageFailed: a new identity could not be stored.
        """
        if self._identity is None:
            stored = self._storage.read(IDENTITY_FILE)
            if stored is None:
                identity = DeviceIdentity.generate()
                self._storage.write(IDENTITY_FILE, identity.to_der())
            else:
                identity = DeviceIdentity.from_der(stored)
            self._identity = identity
        return self._identity

    def public_key(self) -> bytes:
        """The identity's public key, DER SubjectPublicKeyInfo."""
        return self.identity().public_key_der

    def status(self) -> VaultStatus:
        """Exists, PIN attempts allowed and used, language."""
        status = self._read_status()
        exists = self._storage.exists(VAULT_FILE)
        return VaultStatus(
            exists=exists,
            attempts_allowed=self.attempts_allowed,
            attempts_used=status.attempts_used if exists else 0,
            language=status.language,
        )

    def create(self, pin: str, data: TokenData) -> None:
        """Make the vault under `pin` with `data`; it stays unlocked."""
        if self._storage.exists(VAULT_FILE):
            raise VaultStateError("a vault already exists; wipe it first")
        if not pin:
            raise InvalidRecord("a vault needs a PIN")
        self._write_status(replace(self._status_or_fresh(), attempts_used=0))
        blob, key = sealed.seal_new(pin, contents.encode(data), self.kdf_cost)
        self._storage.write(VAULT_FILE, blob)
        self._key = key

    def unlock(self, pin: str) -> TokenData:
        """Count the attempt on disk, then check `pin` and open the vault."""
        blob = self._storage.read(VAULT_FILE)
        if blob is None:
            raise VaultStateError("there is no vault to unlock")
        sealed.check(blob)  # damage is reported before counting: it costs no attempt
        status = self._read_status()
        if status.attempts_used >= self.attempts_allowed:
            self.wipe()
            raise VaultWiped("no PIN attempt was left")
        counted = replace(status, attempts_used=status.attempts_used + 1)
        self._write_status(counted)  # durable before the check
        try:
            key = sealed.unwrap(blob, pin)
        except PinRefused:
            remaining = self.attempts_allowed - counted.attempts_used
            if remaining <= 0:
                self.wipe()
                raise VaultWiped("the last PIN attempt failed") from None
            raise WrongPin(remaining) from None
        self._write_status(replace(counted, attempts_used=0))
        plain = sealed.unseal(blob, key)
        data = contents.decode(plain)
        self._key = self._upgraded(pin, key, plain)
        return data

    def save(self, data: TokenData) -> None:
        """Replace the sealed contents (the vault must be unlocked)."""
        if self._key is None:
            raise VaultStateError("the vault is locked")
        self._storage.write(VAULT_FILE, sealed.reseal(self._key, contents.encode(data)))

    def _upgraded(self, pin: str, key: DataKey, plain: bytes) -> DataKey:
        """The data key of a format-2 vault: `key` itself, or, for a format-1 vault, the
        same key re-wrapped under Argon2id and written (the old file stays if that fails)."""
        if key.format_version == sealed.FORMAT_VERSION:
            return key
        blob, upgraded = sealed.rewrap(pin, key, plain, self.kdf_cost)
        try:
            self._storage.write(VAULT_FILE, blob)
        except StorageFailed as exc:
            log.warning("the vault stays on scrypt until the next unlock: %s", exc)
            return key
        log.info("vault upgraded from format %d to %d", key.format_version, sealed.FORMAT_VERSION)
        return upgraded

    def lock(self) -> None:
        """Forget the data key (Python cannot scrub memory; the reference is dropped)."""
        self._key = None

    def wipe(self) -> None:
        """Destroy the vault and the identity, reset the counter, make a new identity."""
        self._key = None
        self._identity = None
        self._storage.destroy(VAULT_FILE)
        self._storage.destroy(IDENTITY_FILE)
        self._write_status(_Status(language=self._status_or_fresh().language))
        self.identity()

    def set_language(self, language: Language) -> None:
        """Remember the screens' language."""
        self._write_status(replace(self._read_status(), language=language))

    def _read_status(self) -> _Status:
        blob = self._storage.read(STATUS_FILE)
        if blob is None:
            return _Status()
        try:
            document = json.loads(blob.decode("utf-8"))
            if document["format"] != STATUS_VERSION:
                raise VaultUnreadable(f"status format {document['format']} unsupported")
            used = document["attempts_used"]
            if not isinstance(used, int) or used < 0:
                raise VaultUnreadable("the PIN attempt counter is malformed")
            return _Status(used, Language(document["language"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise VaultUnreadable(f"the status file is damaged: {exc}") from exc

    def _status_or_fresh(self) -> _Status:
        try:
            return self._read_status()
        except VaultUnreadable:
            return _Status()

    def _write_status(self, status: _Status) -> None:
        document = {
            "format": STATUS_VERSION,
            "attempts_used": status.attempts_used,
            "language": status.language.value,
        }
        self._storage.write(STATUS_FILE, json.dumps(document).encode("utf-8"))

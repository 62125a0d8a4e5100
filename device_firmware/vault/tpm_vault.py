"""`TpmVault`: the token's `Vault` port with its secrets in a TPM 2.0 (docs/pi.md).

The SD card holds only ciphertext and the language:

- ``vault.bin`` — the credentials and the clock offset, AES-256-GCM under a 32-byte random
  data key. The data key exists only inside the TPM (`tpm.Tpm.seal`), in a persistent object
  whose authorisation is the PIN. Nothing on the card is derived from the PIN, so a copy of
  the card admits no offline search: with every file, the right PIN and a computer, the
  contents stay closed; only the token's own TPM can open them, and it counts every try.
- ``status.json`` — the screens' language (read before the PIN).

Format of ``vault.bin``, version 1 (big-endian)::

    offset size  field
    0      8     magic  b"OTPTPMVT"
    8      1     format version = 1
    9      1     n = length of the sealed key's TPM Name
    10     n     the sealed key's Name (the vault opens only with that very object)
    10+n   12    nonce
    22+n   m+16  AES-256-GCM(data key, nonce, contents, aad = bytes 0..22+n)
    end-32 32    SHA-256 of everything before it (tells damage from tampering, as in `sealed`)

Wrong PINs: the bank's rule is the `FileVault`'s (the first wrong PIN wipes by default), but
the counter lives in a TPM NV index, written before the PIN is tried, so neither a power cut
nor an old SD-card image gives a try back. The TPM itself counts failed authorisations too
(its dictionary-attack logic, `tpm.LockoutPolicy`): code that bypasses this firmware gets
`max_tries` guesses and then one per recovery period, not 10 000.

The wipe evicts the sealed key first: from that instant no copy of ``vault.bin`` can ever be
opened again. It then destroys the file, resets the counter and replaces the identity.

The identity (`TpmIdentity`) is an EC P-256 key made inside the TPM; it signs and agrees keys
there and never leaves, so a copied card cannot impersonate the token.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path

from device_firmware.core.catalog import Language
from device_firmware.core.errors import (
    InvalidRecord,
    VaultLockedOut,
    VaultStateError,
    VaultUnreadable,
    VaultWiped,
    WrongPin,
)
from device_firmware.core.records import TokenData, VaultProtection, VaultStatus
from device_firmware.vault import contents, sealed
from device_firmware.vault.sealed import CHECKSUM_BYTES, NONCE_BYTES, TAG_BYTES
from device_firmware.vault.storage import Checkpoint, DirectoryStorage
from device_firmware.vault.tpm import (
    DATA_KEY_BYTES,
    LockoutPolicy,
    LockoutState,
    Tpm,
    TpmAuthRefused,
    TpmLockedOut,
)

VAULT_FILE = "vault.bin"
STATUS_FILE = "status.json"
MAGIC = b"OTPTPMVT"
FORMAT_VERSION = 1
STATUS_VERSION = 1


@dataclass(frozen=True)
class _Opened:
    key: bytes = field(repr=False)
    name: bytes


class TpmIdentity:
    """The device identity inside the TPM: the link's `TokenKey`, never exported."""

    def __init__(self, tpm: Tpm, public_key_der: bytes) -> None:
        self._tpm = tpm
        self._public_key_der = public_key_der

    def __repr__(self) -> str:
        return f"TpmIdentity({self._tpm.tcti!r})"

    @property
    def public_key_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo (the input of the device ID)."""
        return self._public_key_der

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256 / SHA-256 signature of `message`, DER-encoded, made by the TPM."""
        return self._tpm.sign(message)

    def exchange(self, peer_public_der: bytes) -> bytes:
        """The ECDH shared secret with a peer's P-256 public key, computed by the TPM."""
        return self._tpm.exchange(peer_public_der)


class TpmVault:
    """The `Vault` port on a TPM 2.0 and a directory.

    Args:
        directory: where ``vault.bin`` and ``status.json`` live (created 0700 if missing).
        tpm: the TPM (`Tpm("device:/dev/tpmrm0")` on a Pi).
        attempts_allowed: wrong PINs allowed before the wipe (the bank's app allows 1).
        lockout: the TPM's DA policy, applied if the TPM has none yet (`Tpm.prepare`).
        checkpoint: tests only: called after each durable step of every file write.

    Raises:
        InvalidRecord: `attempts_allowed` is below 1.
        StorageFailed: the directory cannot be used.
        VaultUnreadable: the TPM cannot be reached or refused to prepare.
    """

    def __init__(
        self,
        directory: Path,
        tpm: Tpm,
        *,
        attempts_allowed: int = 1,
        lockout: LockoutPolicy | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        if attempts_allowed < 1:
            raise InvalidRecord("at least one PIN attempt must be allowed")
        self.attempts_allowed = attempts_allowed
        self.tpm = tpm
        self._storage = DirectoryStorage(directory, checkpoint=checkpoint)
        self._lockout = tpm.prepare(lockout or LockoutPolicy())
        self._identity: TpmIdentity | None = None
        self._opened: _Opened | None = None

    def __repr__(self) -> str:
        return f"TpmVault({self.directory}, {self.tpm!r})"

    @property
    def directory(self) -> Path:
        """The directory the vault's files live in."""
        return self._storage.directory

    @property
    def protection(self) -> VaultProtection:
        """`VaultProtection.TPM`: the TPM checks and counts every PIN."""
        return VaultProtection.TPM

    @property
    def unlocked(self) -> bool:
        """The data key is in memory (after `create` or a right PIN, until `lock`)."""
        return self._opened is not None

    def lockout_state(self) -> LockoutState:
        """The TPM's dictionary-attack counter and policy, as it reports them now."""
        return self.tpm.lockout_state()

    def identity(self) -> TpmIdentity:
        """The device identity, made in the TPM on first use."""
        if self._identity is None:
            self._identity = TpmIdentity(self.tpm, self.tpm.make_identity())
        return self._identity

    def public_key(self) -> bytes:
        """The identity's public key, DER SubjectPublicKeyInfo."""
        return self.identity().public_key_der

    def status(self) -> VaultStatus:
        """Exists (a sealed key in the TPM and its file), PIN attempts, language."""
        exists, used = False, 0
        if self._storage.exists(VAULT_FILE):
            name, used = self.tpm.sealed_state()
            exists = name is not None
        return VaultStatus(
            exists=exists,
            attempts_allowed=self.attempts_allowed,
            attempts_used=used if exists else 0,
            language=self._language(),
        )

    def create(self, pin: str, data: TokenData) -> None:
        """Seal a new data key under `pin` in the TPM and write `data` under it."""
        if not pin:
            raise InvalidRecord("a vault needs a PIN")
        if self._exists():
            raise VaultStateError("a vault already exists; wipe it first")
        self._clear_leftovers()
        self.tpm.write_attempts(0)
        key = secrets.token_bytes(DATA_KEY_BYTES)
        name = self.tpm.seal(pin, key)
        opened = _Opened(key, name)
        self._storage.write(VAULT_FILE, _seal(opened, contents.encode(data)))
        self._opened = opened

    def unlock(self, pin: str) -> TokenData:
        """Count the attempt in the TPM, then let the TPM check `pin` and open the vault."""
        blob = self._storage.read(VAULT_FILE)
        name, used = self.tpm.sealed_state()
        if blob is None or name is None:
            raise VaultStateError("there is no vault to unlock")
        parsed = _parse(blob)  # damage is reported before counting: it costs no attempt
        if used >= self.attempts_allowed:
            self.wipe()
            raise VaultWiped("no PIN attempt was left")
        self.tpm.write_attempts(used + 1)  # durable in the TPM before the check
        try:
            key = self.tpm.unseal(pin)
        except TpmAuthRefused:
            remaining = self.attempts_allowed - (used + 1)
            if remaining <= 0:
                self.wipe()
                raise VaultWiped("the last PIN attempt failed") from None
            raise WrongPin(remaining) from None
        except TpmLockedOut as exc:
            self.tpm.write_attempts(used)  # the TPM checked nothing: give the try back
            raise VaultLockedOut(exc.retry_after) from None
        self.tpm.write_attempts(0)
        opened = _Opened(key, name)
        data = contents.decode(_unseal(parsed, opened))
        self._opened = opened
        return data

    def save(self, data: TokenData) -> None:
        """Replace the sealed contents (the vault must be unlocked)."""
        if self._opened is None:
            raise VaultStateError("the vault is locked")
        self._storage.write(VAULT_FILE, _seal(self._opened, contents.encode(data)))

    def lock(self) -> None:
        """Forget the data key (Python cannot scrub memory; the reference is dropped)."""
        self._opened = None

    def wipe(self) -> None:
        """Evict the sealed key, destroy the file, reset the counter, replace the identity."""
        self._opened = None
        self._identity = None
        self.tpm.destroy_sealed_key()  # first: from here on no copy of the file opens
        self._storage.destroy(VAULT_FILE)
        self.tpm.write_attempts(0)
        self.tpm.destroy_identity()
        self.identity()

    def set_language(self, language: Language) -> None:
        """Remember the screens' language."""
        document = {"format": STATUS_VERSION, "language": language.value}
        self._storage.write(STATUS_FILE, json.dumps(document).encode("utf-8"))

    def _exists(self) -> bool:
        return self._storage.exists(VAULT_FILE) and self.tpm.sealed_key_name() is not None

    def _clear_leftovers(self) -> None:
        """A sealed key without its file, or a file without its key: a wipe or a create
        cut short (or an SD card restored after a wipe). Neither can be opened; remove both."""
        self.tpm.destroy_sealed_key()
        self._storage.destroy(VAULT_FILE)

    def _language(self) -> Language:
        blob = self._storage.read(STATUS_FILE)
        if blob is None:
            return Language.ES
        try:
            document = json.loads(blob.decode("utf-8"))
            if document["format"] != STATUS_VERSION:
                raise VaultUnreadable(f"status format {document['format']} unsupported")
            return Language(document["language"])
        except (ValueError, KeyError, TypeError) as exc:
            raise VaultUnreadable(f"the status file is damaged: {exc}") from exc


_PREFIX = struct.Struct(">8sBB")


def _seal(opened: _Opened, plaintext: bytes) -> bytes:
    header = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(opened.name)) + opened.name
    return sealed.seal_contents(opened.key, header, plaintext)


@dataclass(frozen=True)
class _Parsed:
    name: bytes  # of the sealed key in the TPM
    header: bytes  # authenticated, ends with the nonce
    sealed: bytes


def _parse(blob: bytes) -> _Parsed:
    """A vault file split, checked for what needs no key."""
    if len(blob) < _PREFIX.size + NONCE_BYTES + TAG_BYTES + CHECKSUM_BYTES:
        raise VaultUnreadable("the vault file is truncated")
    body = sealed.checked_body(blob)
    magic, version, name_length = _PREFIX.unpack_from(body)
    if magic != MAGIC:
        raise VaultUnreadable("not a TPM vault file")
    if version != FORMAT_VERSION:
        raise VaultUnreadable(f"vault format version {version} is not supported")
    header_end = _PREFIX.size + name_length + NONCE_BYTES
    if len(body) < header_end + TAG_BYTES:
        raise VaultUnreadable("the vault file is truncated")
    name = body[_PREFIX.size : _PREFIX.size + name_length]
    return _Parsed(name, body[:header_end], body[header_end:])


def _unseal(parsed: _Parsed, opened: _Opened) -> bytes:
    if not secrets.compare_digest(parsed.name, opened.name):
        raise VaultUnreadable("the vault file belongs to another sealed key")
    return sealed.open_contents(opened.key, parsed.header, parsed.sealed)

"""The sealed vault file: a random data key under a PIN-derived key, the data under the data key.

Layout of ``vault.bin`` (all integers unsigned, big-endian). The format version says which KDF
wrapped the data key and how its cost is written; everything after the cost is the same::

    offset size  field
    0      8     magic  b"OTPVAULT"
    8      1     format version: 2 (Argon2id) for every vault made now, 1 (scrypt) before
    9      c     KDF cost (c = 9 in format 2, 3 in format 1; see below)
    9+c    16    salt
    25+c   12    key nonce
    37+c   48    wrapped data key = AES-256-GCM(KEK, key nonce, data key, aad = bytes 0..37+c)
    85+c   12    data nonce
    97+c   n+16  sealed contents = AES-256-GCM(data key, data nonce, contents, aad = bytes 0..97+c)
    end-32 32    SHA-256 of everything before it

    format 2 cost (c = 9): memory KiB (4 bytes), iterations (4 bytes), lanes (1 byte)
    format 1 cost (c = 3): scrypt log2(N), r, p (1 byte each)

KEK = Argon2id(PIN as UTF-8, salt, cost, 32 bytes) in format 2, scrypt(...) in format 1
(`kdf`). The data key is 32 random bytes made when the vault is created; saving new contents
re-encrypts them under the same data key with a fresh random nonce (a vault is written a few
thousand times in its life, far below the 2**32 random-nonce limit of GCM). The header is
authenticated as associated data, so a change to the version, cost or salt is detected, and a
cost out of `kdf`'s bounds is refused before any derivation.

A format-1 vault still opens; `rewrap` then wraps the same data key under Argon2id with a new
salt and writes format 2 (`FileVault.unlock` does it after the first right PIN), so old
vaults upgrade themselves. A copy of the card taken before the upgrade keeps scrypt's price.

The trailing SHA-256 is not a security control (anyone can recompute it): it tells accidental
damage (a flipped bit on the SD card) apart from a wrong PIN, so a damaged vault is reported
as unreadable and never costs a PIN attempt. A deliberate change of the key-wrap bytes with
the checksum recomputed looks like a wrong PIN, and one of the data bytes like damage.

Read `kdf` for the costs and for what they do not buy: **a 4-digit PIN does not resist an
offline attack** on a copy of the card, whatever the KDF; the attempt counter only stops
guesses typed on the keypad.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_firmware.core.errors import InvalidRecord, VaultUnreadable
from device_firmware.vault.kdf import KEY_BYTES, Argon2Cost, ScryptCost

MAGIC = b"OTPVAULT"
FORMAT_VERSION = Argon2Cost.FORMAT_VERSION
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
CHECKSUM_BYTES = 32

Cost = Argon2Cost | ScryptCost
_COSTS: dict[int, type[Argon2Cost] | type[ScryptCost]] = {
    Argon2Cost.FORMAT_VERSION: Argon2Cost,
    ScryptCost.FORMAT_VERSION: ScryptCost,
}
_PREFIX = struct.Struct(">8sB")  # magic, version
_REST = struct.Struct(f">{SALT_BYTES}s{NONCE_BYTES}s{KEY_BYTES + TAG_BYTES}s{NONCE_BYTES}s")


class PinRefused(Exception):
    """The data key did not unwrap under this PIN (the vault adapter counts it)."""


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key with the header it was wrapped in (to re-seal new contents)."""

    key: bytes = field(repr=False)
    key_wrap: bytes = field(repr=False)  # the header from the magic to the wrapped data key

    @property
    def format_version(self) -> int:
        """The format of the file this key was unwrapped from (or wrapped for)."""
        return self.key_wrap[len(MAGIC)]


def seal_new(pin: str, contents: bytes, cost: Cost) -> tuple[bytes, DataKey]:
    """A new vault file for `contents` under `pin`, and its data key (to save again later).

    The cost's type chooses the format: `Argon2Cost` gives format 2 (what `FileVault`
    writes), `ScryptCost` format 1 (what older firmware wrote; tests and the benchmark make
    such files to check they still open).
    """
    return _wrap(pin, AESGCM.generate_key(bit_length=KEY_BYTES * 8), contents, cost)


def rewrap(pin: str, key: DataKey, contents: bytes, cost: Cost) -> tuple[bytes, DataKey]:
    """The same data key and `contents` under `pin` again, with `cost` and a new salt.

    Used to move a format-1 (scrypt) vault to format 2 (Argon2id) once its PIN is known.
    """
    return _wrap(pin, key.key, contents, cost)


def _wrap(pin: str, data_key: bytes, contents: bytes, cost: Cost) -> tuple[bytes, DataKey]:
    salt = secrets.token_bytes(SALT_BYTES)
    key_nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _PREFIX.pack(MAGIC, cost.FORMAT_VERSION) + cost.pack() + salt + key_nonce
    wrapped = AESGCM(cost.derive(pin, salt)).encrypt(key_nonce, data_key, aad)
    key = DataKey(data_key, aad + wrapped)
    return reseal(key, contents), key


def reseal(key: DataKey, contents: bytes) -> bytes:
    """A vault file for new `contents`, same PIN and data key, fresh nonce."""
    return seal_contents(key.key, key.key_wrap, contents)


def seal_contents(key: bytes, header: bytes, contents: bytes) -> bytes:
    """A whole vault file: `header`, a fresh nonce, `contents` under AES-256-GCM with the
    header and nonce authenticated, and the trailing SHA-256 (shared by the TPM vault)."""
    header += secrets.token_bytes(NONCE_BYTES)
    body = header + AESGCM(key).encrypt(header[-NONCE_BYTES:], contents, header)
    return body + hashlib.sha256(body).digest()


def open_contents(key: bytes, header: bytes, sealed: bytes) -> bytes:
    """The contents `seal_contents` sealed; `header` ends with the nonce.

    Raises:
        VaultUnreadable: the contents were altered or belong to another key.
    """
    try:
        return AESGCM(key).decrypt(header[-NONCE_BYTES:], sealed, header)
    except InvalidTag:
        raise VaultUnreadable("the vault's contents fail authentication (altered)") from None


def checked_body(blob: bytes) -> bytes:
    """A vault file without its trailing SHA-256, which must match (damage, not a PIN).

    Raises:
        VaultUnreadable: the checksum does not match.
    """
    body, checksum = blob[:-CHECKSUM_BYTES], blob[-CHECKSUM_BYTES:]
    if not secrets.compare_digest(hashlib.sha256(body).digest(), checksum):
        raise VaultUnreadable("the vault file is damaged (checksum mismatch)")
    return body


@dataclass(frozen=True)
class _Parsed:
    cost: Cost
    salt: bytes
    key_nonce: bytes
    wrapped: bytes
    data_nonce: bytes
    key_wrap_aad: bytes
    header: bytes
    sealed: bytes


def _parse(blob: bytes) -> _Parsed:
    """Split a vault file, checking what needs no PIN: size, checksum, magic, version, cost."""
    if len(blob) < _PREFIX.size:
        raise VaultUnreadable("the vault file is truncated")
    magic, version = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise VaultUnreadable("not a vault file")
    kind = _COSTS.get(version)
    if kind is None:
        raise VaultUnreadable(f"vault format version {version} is not supported")
    header_size = _PREFIX.size + kind.FIELDS.size + _REST.size
    if len(blob) < header_size + TAG_BYTES + CHECKSUM_BYTES:
        raise VaultUnreadable("the vault file is truncated")
    body = checked_body(blob)
    rest = _PREFIX.size + kind.FIELDS.size
    try:
        cost = kind.unpack(body[_PREFIX.size : rest])
    except InvalidRecord as exc:
        raise VaultUnreadable(f"the vault's KDF cost is not acceptable: {exc}") from exc
    salt, key_nonce, wrapped, data_nonce = _REST.unpack_from(body, rest)
    key_wrap_aad = body[: rest + SALT_BYTES + NONCE_BYTES]
    header = body[:header_size]
    return _Parsed(
        cost, salt, key_nonce, wrapped, data_nonce, key_wrap_aad, header, body[header_size:]
    )


def check(blob: bytes) -> Cost:
    """Check the parts of a vault file that need no PIN; return its cost.

    The cost's type tells the format: `ScryptCost` for format 1, `Argon2Cost` for 2.

    Raises:
        VaultUnreadable: truncated, damaged, foreign, of an unknown version, or asking for
            a KDF cost out of bounds.
    """
    return _parse(blob).cost


def unwrap(blob: bytes, pin: str) -> DataKey:
    """The data key of the vault file `blob`, unwrapped with `pin`.

    Raises:
        VaultUnreadable: the file is damaged or foreign.
        PinRefused: the key does not unwrap under this PIN.
    """
    parsed = _parse(blob)
    kek = parsed.cost.derive(pin, parsed.salt)
    try:
        data_key = AESGCM(kek).decrypt(parsed.key_nonce, parsed.wrapped, parsed.key_wrap_aad)
    except InvalidTag:
        raise PinRefused from None
    return DataKey(data_key, parsed.key_wrap_aad + parsed.wrapped)


def unseal(blob: bytes, key: DataKey) -> bytes:
    """The contents of the vault file `blob`, decrypted with its data key.

    Raises:
        VaultUnreadable: the contents were altered or belong to another key.
    """
    parsed = _parse(blob)
    return open_contents(key.key, parsed.header, parsed.sealed)

"""The sealed vault file: a random data key under a PIN-derived key, the data under the data key.

Layout of ``vault.bin``, format version 1 (all integers unsigned, big-endian)::

    offset size  field
    0      8     magic  b"OTPVAULT"
    8      1     format version = 1
    9      1     scrypt log2(N)
    10     1     scrypt r
    11     1     scrypt p
    12     16    salt
    28     12    key nonce
    40     48    wrapped data key = AES-256-GCM(KEK, key nonce, data key, aad = bytes 0..40)
    88     12    data nonce
    100    n+16  sealed contents = AES-256-GCM(data key, data nonce, contents, aad = bytes 0..100)
    end-32 32    SHA-256 of everything before it

KEK = scrypt(PIN as UTF-8, salt, N, r, p, 32 bytes). The data key is 32 random bytes made when
the vault is created; saving new contents re-encrypts them under the same data key with a
fresh random nonce (a vault is written a few thousand times in its life, far below the 2**32
random-nonce limit of GCM). The header is authenticated as associated data, so a change to
the cost, salt or version is detected.

The trailing SHA-256 is not a security control (anyone can recompute it): it tells accidental
damage (a flipped bit on the SD card) apart from a wrong PIN, so a damaged vault is reported
as unreadable and never costs a PIN attempt. A deliberate change of the key-wrap bytes with
the checksum recomputed looks like a wrong PIN, and one of the data bytes like damage.

Cost: the default N = 2**14, r = 8, p = 1 (16 MiB) is the "interactive" setting of scrypt's
paper. It takes about 0.09 s on the x86 server core of the development machine; the Pi Zero 2
W's Cortex-A53 at 1 GHz is about 3-4 times slower on scrypt's Salsa20/8 core and its LPDDR2
memory much slower, which puts one unlock at about 0.3 s: unnoticeable after typing a PIN,
yet 10 000 PINs cost ~50 minutes of the Pi's time. Note what that means: **a 4-digit PIN does
not resist an offline attack.** Anyone with a copy of the SD card tries every PIN on a fast
computer in minutes (the attempt counter only stops guesses typed on the keypad). The PIN
protects against someone holding the token, not against a copy of its storage; a secure
element or TPM with its own retry counter, behind the same `Vault` port, closes that gap.
The cost is stored in each file, so a later firmware may raise the default without breaking
existing vaults (new vaults, and vaults re-created with a new PIN, use the new cost).
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from device_firmware.core.errors import InvalidRecord, VaultUnreadable

MAGIC = b"OTPVAULT"
FORMAT_VERSION = 1
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
CHECKSUM_BYTES = 32
MAX_KDF_MEMORY = 256 * 1024 * 1024  # a Pi Zero 2 has 512 MiB in all

_HEADER = struct.Struct(f">8sBBBB{SALT_BYTES}s{NONCE_BYTES}s{KEY_BYTES + TAG_BYTES}s{NONCE_BYTES}s")
_KEY_WRAP_AAD_END = 8 + 4 + SALT_BYTES + NONCE_BYTES  # magic, version, cost, salt, key nonce


class PinRefused(Exception):
    """The data key did not unwrap under this PIN (the vault adapter counts it)."""


@dataclass(frozen=True)
class KdfCost:
    """scrypt's cost parameters (RFC 7914).

    Attributes:
        log2_n: log2 of the CPU/memory cost N.
        r: block size.
        p: parallelisation.
    """

    log2_n: int = 14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.log2_n <= 24 or not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise InvalidRecord(f"scrypt cost out of range: {self}")
        if self.memory > MAX_KDF_MEMORY:
            raise InvalidRecord(f"scrypt cost needs {self.memory >> 20} MiB, more than allowed")

    @property
    def memory(self) -> int:
        """Bytes of memory one derivation needs (128 * r * N)."""
        return 128 * self.r * (1 << self.log2_n)

    def derive(self, pin: str, salt: bytes) -> bytes:
        """The key-encryption key for `pin`."""
        kdf = Scrypt(salt=salt, length=KEY_BYTES, n=1 << self.log2_n, r=self.r, p=self.p)
        return kdf.derive(pin.encode("utf-8"))


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key with the header it was wrapped in (to re-seal new contents)."""

    key: bytes = field(repr=False)
    key_wrap: bytes = field(repr=False)  # header bytes 0..88: magic .. wrapped data key


def seal_new(pin: str, contents: bytes, cost: KdfCost) -> tuple[bytes, DataKey]:
    """A new vault file for `contents` under `pin`, and its data key (to save again later)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key_nonce = secrets.token_bytes(NONCE_BYTES)
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    prefix = struct.pack(">8sBBBB", MAGIC, FORMAT_VERSION, cost.log2_n, cost.r, cost.p)
    aad = prefix + salt + key_nonce
    wrapped = AESGCM(cost.derive(pin, salt)).encrypt(key_nonce, data_key, aad)
    key = DataKey(data_key, aad + wrapped)
    return reseal(key, contents), key


def reseal(key: DataKey, contents: bytes) -> bytes:
    """A vault file for new `contents`, same PIN and data key, fresh nonce."""
    header = key.key_wrap + secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.key).encrypt(header[-NONCE_BYTES:], contents, header)
    body = header + sealed
    return body + hashlib.sha256(body).digest()


@dataclass(frozen=True)
class _Parsed:
    cost: KdfCost
    salt: bytes
    key_nonce: bytes
    wrapped: bytes
    data_nonce: bytes
    header: bytes
    sealed: bytes


def _parse(blob: bytes) -> _Parsed:
    """Split a vault file, checking what needs no PIN: size, checksum, magic, version, cost."""
    if len(blob) < _HEADER.size + TAG_BYTES + CHECKSUM_BYTES:
        raise VaultUnreadable("the vault file is truncated")
    body, checksum = blob[:-CHECKSUM_BYTES], blob[-CHECKSUM_BYTES:]
    if not secrets.compare_digest(hashlib.sha256(body).digest(), checksum):
        raise VaultUnreadable("the vault file is damaged (checksum mismatch)")
    magic, version, log2_n, r, p, salt, key_nonce, wrapped, data_nonce = _HEADER.unpack_from(body)
    if magic != MAGIC:
        raise VaultUnreadable("not a vault file")
    if version != FORMAT_VERSION:
        raise VaultUnreadable(f"vault format version {version} is not supported")
    try:
        cost = KdfCost(log2_n, r, p)
    except InvalidRecord as exc:
        raise VaultUnreadable(f"the vault's scrypt cost is not acceptable: {exc}") from exc
    header = body[: _HEADER.size]
    return _Parsed(cost, salt, key_nonce, wrapped, data_nonce, header, body[_HEADER.size :])


def check(blob: bytes) -> KdfCost:
    """Check the parts of a vault file that need no PIN; return its cost.

    Raises:
        VaultUnreadable: truncated, damaged, foreign, or of an unknown version.
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
    aad = parsed.header[:_KEY_WRAP_AAD_END]
    try:
        data_key = AESGCM(kek).decrypt(parsed.key_nonce, parsed.wrapped, aad)
    except InvalidTag:
        raise PinRefused from None
    return DataKey(data_key, parsed.header[: _KEY_WRAP_AAD_END + len(parsed.wrapped)])


def unseal(blob: bytes, key: DataKey) -> bytes:
    """The contents of the vault file `blob`, decrypted with its data key.

    Raises:
        VaultUnreadable: the contents were altered or belong to another key.
    """
    parsed = _parse(blob)
    try:
        return AESGCM(key.key).decrypt(parsed.data_nonce, parsed.sealed, parsed.header)
    except InvalidTag:
        raise VaultUnreadable("the vault's contents fail authentication (altered)") from None

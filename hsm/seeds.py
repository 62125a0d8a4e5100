"""OTP seeds: made, imported, wrapped and used inside the HSM; never returned in plaintext.

A seed lives outside the HSM only as a blob wrapped with CKM_AES_KEY_WRAP_PAD under a KEK
version. To compute OTP values the blob is unwrapped into a *session* object (sensitive, not
extractable, SIGN only), the HMACs are computed with C_Sign, and the object is destroyed or
kept in a bounded per-process cache of handles.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from hsm.errors import InvalidSeedRequest, KeyNotFound, SeedRejected
from hsm.keys import KeyPurpose, KeyRing
from hsm.otp import Algorithm, counter_bytes, truncate

T = TypeVar("T")

WRAP_MECHANISM = Mechanism.AES_KEY_WRAP_PAD
HMAC_MECHANISMS = {
    Algorithm.SHA1: Mechanism.SHA_1_HMAC,
    Algorithm.SHA256: Mechanism.SHA256_HMAC,
    Algorithm.SHA512: Mechanism.SHA512_HMAC,
}
MIN_IMPORTED_SEED = 16  # RFC 4226 R6: at least 128 bits
MAX_IMPORTED_SEED = 128

_UNWRAP_FAILURES = (
    p11e.WrappedKeyInvalid,
    p11e.WrappedKeyLenRange,
    p11e.EncryptedDataInvalid,
    p11e.EncryptedDataLenRange,
    p11e.DataInvalid,
    p11e.DataLenRange,
)


@dataclass(frozen=True)
class WrappedSeed:
    """A seed as the database keeps it.

    Attributes:
        blob: the seed wrapped with AES_KEY_WRAP_PAD under KEK `kek_version`.
        kek_version: which KEK wrapped it.
        length: the true seed length in bytes (SoftHSM pads the wrapped key to a multiple
            of 8 with zeros; the HMAC is the same, but exports must cut back to this).
    """

    blob: bytes
    kek_version: int
    length: int

    def __repr__(self) -> str:
        return (
            f"WrappedSeed(kek_version={self.kek_version}, length={self.length}, "
            f"blob=<{len(self.blob)} bytes>)"
        )


def seed_template(*, extractable: bool) -> dict[Attribute, Any]:
    """Attributes of every seed object: a session object that never shows its value."""
    return {
        Attribute.TOKEN: False,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: extractable,
    }


class SeedHandleCache:
    """A bounded LRU of unwrapped seed objects, keyed by (KEK version, wrapped blob)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, bytes], Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[int, bytes]) -> Any | None:
        obj = self._entries.get(key)
        if obj is not None:
            self._entries.move_to_end(key)
        return obj

    def put(self, key: tuple[int, bytes], obj: Any) -> bool:
        """Keep `obj`; returns False when the cache is off (the caller destroys it)."""
        if self.size <= 0:
            return False
        self._entries[key] = obj
        while len(self._entries) > self.size:
            _, old = self._entries.popitem(last=False)
            _destroy(old)
        return True

    def forget(self) -> None:
        """Drop every entry (their session is gone, so are the objects)."""
        self._entries.clear()

    def destroy_all(self) -> None:
        """Destroy every cached object in the HSM and empty the cache."""
        for obj in self._entries.values():
            _destroy(obj)
        self._entries.clear()


def _session_alive(session: pkcs11.Session) -> bool:
    try:
        session.generate_random(64)
    except p11e.PKCS11Error:
        return False
    return True


def _destroy(obj: Any) -> None:
    try:
        obj.destroy()
    except p11e.PKCS11Error:
        pass  # its session is gone already: so is the object


class SeedStore:
    """Seed operations on one session; run on the PKCS#11 thread only."""

    def __init__(self, keys: KeyRing, cache: SeedHandleCache) -> None:
        self._keys = keys
        self.cache = cache

    def generate(self, session: pkcs11.Session, algorithm: Algorithm) -> WrappedSeed:
        """Make a random seed inside the HSM and return it wrapped under the current KEK."""
        version = self._keys.current_version(KeyPurpose.SEED_WRAPPING)
        return self._wrap_and_destroy(
            self.random_object(session, algorithm), version, algorithm.seed_length
        )

    @staticmethod
    def random_object(session: pkcs11.Session, algorithm: Algorithm) -> Any:
        """A new random seed as an extractable session object, to be wrapped and destroyed
        by the caller."""
        return session.generate_key(
            KeyType.GENERIC_SECRET,
            algorithm.seed_length * 8,
            store=False,
            capabilities=MechanismFlag.SIGN,
            template=seed_template(extractable=True),
        )

    def import_(self, session: pkcs11.Session, seed: bytes, algorithm: Algorithm) -> WrappedSeed:
        """Wrap a known seed (imported hardware tokens, test vectors) under the current KEK.

        Seeds shorter than the hash output are zero-padded up to it: SoftHSM refuses shorter
        HMAC keys, and HMAC pads keys with zeros anyway, so the codes are unchanged. Seeds
        longer than the hash block are replaced by their hash, as HMAC itself does.
        """
        if not MIN_IMPORTED_SEED <= len(seed) <= MAX_IMPORTED_SEED:
            raise InvalidSeedRequest(
                f"a seed must be {MIN_IMPORTED_SEED} to {MAX_IMPORTED_SEED} bytes long, "
                f"not {len(seed)}"
            )
        version = self._keys.current_version(KeyPurpose.SEED_WRAPPING)
        if len(seed) > algorithm.block_size:
            # HMAC replaces a key longer than the block by its hash (RFC 2104 §2). Do it here:
            # SoftHSM 2.6.1 zero-pads wrapped keys to a multiple of 8, which would change
            # the hash of a long key (but never the HMAC of a key within the block).
            seed = algorithm.hash(seed)
        value = seed.ljust(algorithm.seed_length, b"\0")
        obj = session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: value,
                Attribute.SIGN: True,
                **seed_template(extractable=True),
            }
        )
        return self._wrap_and_destroy(obj, version, len(seed))

    def wrap(self, seed: Any, version: int, length: int) -> WrappedSeed:
        """Wrap the seed object `seed` under KEK `version` (the object is left as it is)."""
        kek = self._keys.get(KeyPurpose.SEED_WRAPPING, version)
        return WrappedSeed(kek.wrap_key(seed, mechanism=WRAP_MECHANISM), version, length)

    def _wrap_and_destroy(self, seed: Any, version: int, length: int) -> WrappedSeed:
        try:
            return self.wrap(seed, version, length)
        finally:
            _destroy(seed)

    def rewrap(
        self, session: pkcs11.Session, seeds: Sequence[WrappedSeed], to_version: int | None
    ) -> list[WrappedSeed]:
        """Unwrap each seed (extractable, so it can be wrapped again), wrap it under
        `to_version`, destroy the object. Seeds under `to_version` already pass through."""
        target = to_version or self._keys.current_version(KeyPurpose.SEED_WRAPPING)
        self._kek(session, target)  # fail before doing anything if the target is missing
        result = []
        for seed in seeds:
            if seed.kek_version == target:
                result.append(seed)
                continue
            obj = self.unwrap(session, seed, extractable=True)
            result.append(self._wrap_and_destroy(obj, target, seed.length))
        return result

    def _kek(self, session: pkcs11.Session, version: int) -> Any:
        """KEK `version`, scanning the token again once if it is newer than any known (an
        officer may have created it in another process). An older version that is missing
        was destroyed: no scan, which would cost a walk over the token on every request
        for such a seed."""
        try:
            return self._keys.get(KeyPurpose.SEED_WRAPPING, version)
        except KeyNotFound:
            known = self._keys.versions(KeyPurpose.SEED_WRAPPING)
            if known and version <= known[-1]:
                raise
            self._keys.load(session)
            return self._keys.get(KeyPurpose.SEED_WRAPPING, version)

    def unwrap(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        *,
        store: bool = False,
        extractable: bool = False,
    ) -> Any:
        """Unwrap into a sensitive SIGN-only object (a token object only if `store`;
        extractable only to be wrapped again, by `rewrap`)."""
        kek = self._kek(session, seed.kek_version)
        template = seed_template(extractable=extractable)
        template[Attribute.TOKEN] = store
        try:
            obj = kek.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                seed.blob,
                mechanism=WRAP_MECHANISM,
                store=store,
                capabilities=MechanismFlag.SIGN,
                template=template,
            )
        except (*_UNWRAP_FAILURES, p11e.GeneralError) as exc:
            # SoftHSM answers CKR_GENERAL_ERROR to an altered blob: only when the session
            # still works is that the blob's fault rather than a lost HSM.
            if isinstance(exc, p11e.GeneralError) and not _session_alive(session):
                raise
            raise SeedRejected(
                f"a wrapped seed does not unwrap under KEK v{seed.kek_version} "
                f"({type(exc).__name__})"
            ) from exc
        # python-pkcs11 asks the HSM for the key type before the first sign (one more call
        # per seed, ~11% of an unwrap and sign); we made the object, so we know it
        obj.key_type = KeyType.GENERIC_SECRET
        return obj

    def otp_values(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        algorithm: Algorithm,
        digits: int,
        counters: Sequence[int],
    ) -> list[str]:
        """The HOTP values of `seed` at each counter (TOTP: the time steps)."""
        return self._with_object(
            session, seed, lambda obj: [_hmac_code(obj, algorithm, digits, c) for c in counters]
        )

    def first_match(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        algorithm: Algorithm,
        digits: int,
        counters: Sequence[int],
        code: str,
    ) -> int | None:
        """The first of `counters`, in the order given, whose value is `code` (None if
        none is); the values after a match are not computed. Each comparison takes the
        same time whatever the digits."""

        expected = code.encode()

        def search(obj: Any) -> int | None:
            for counter in counters:
                value = _hmac_code(obj, algorithm, digits, counter)
                if hmac.compare_digest(value.encode(), expected):
                    return counter
            return None

        return self._with_object(session, seed, search)

    def _with_object(
        self, session: pkcs11.Session, seed: WrappedSeed, use: Callable[[Any], T]
    ) -> T:
        """Call `use` with `seed` unwrapped: a cached handle, or a new one that is cached
        (or destroyed afterwards when the cache is off)."""
        cache_key = (seed.kek_version, seed.blob)
        obj = self.cache.get(cache_key)
        if obj is not None:
            return use(obj)
        obj = self.unwrap(session, seed)
        if self.cache.put(cache_key, obj):
            return use(obj)
        try:
            return use(obj)
        finally:
            _destroy(obj)


def _hmac_code(obj: Any, algorithm: Algorithm, digits: int, counter: int) -> str:
    try:
        mac = obj.sign(counter_bytes(counter), mechanism=HMAC_MECHANISMS[algorithm])
    except p11e.KeySizeRange as exc:
        raise SeedRejected(f"the seed is too short for {algorithm.value} HMAC in this HSM") from exc
    return truncate(mac, digits)

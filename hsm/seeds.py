"""OTP seeds: made, imported, wrapped and used inside the HSM; never returned in plaintext.

A seed lives outside the HSM only as a blob wrapped as RFC 5649 under a KEK version, with
the mechanism the KEK records (`hsm.wire_format`). To compute OTP values the blob is
unwrapped into a *session* object (sensitive, not extractable, SIGN only), the HMACs are
computed with C_Sign, and the object is destroyed or kept in a bounded per-process cache of
handles. Those three calls go straight to the module (`hsm.cryptoki`): python-pkcs11 would
make a Python class for every such object.

Every unwrap under a KEK made by `otp-hsm init-keys` is bound by the KEK's unwrap template
(`hsm.attributes`): whatever a caller asks, the object is sensitive, SIGN-only and not
modifiable, and only a trusted key (a KEK) may wrap it again. Rotation (`rewrap`) unwraps
such objects as extractable and wraps them under the new KEK.

Seeds are unwrapped by the token KEK itself: a KEK that is not modifiable cannot be copied
as a session object, which made an uncached unwrap and destroy faster (docs/hsm.md,
"Speed"); an unwrap happens only when a seed is not in the handle cache.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as p11e
import structlog
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from hsm import wire_format
from hsm.attributes import REWRAP_SEED_TEMPLATE, SIGNING_SEED_TEMPLATE
from hsm.cryptoki import Cryptoki, handle_of
from hsm.errors import InvalidSeedRequest, KeyNotFound, SeedRejected
from hsm.keys import KeyPurpose, KeyRing
from hsm.otp import Algorithm, counter_bytes, truncate

T = TypeVar("T")

log = structlog.get_logger("hsm")

HMAC_MECHANISMS = {
    Algorithm.SHA1: Mechanism.SHA_1_HMAC,
    Algorithm.SHA256: Mechanism.SHA256_HMAC,
    Algorithm.SHA512: Mechanism.SHA512_HMAC,
}
MIN_IMPORTED_SEED = 16  # RFC 4226 R6: at least 128 bits
SHORTEST_IMPORTED_SEED = 10  # 80 bits, as older hardware tokens ship: only by explicit policy
MAX_IMPORTED_SEED = 128


def shortest_seed(allow_short: bool) -> int:
    """The fewest bytes an imported seed may have: 16 (RFC 4226 R6), or 10 (80 bits, as older
    hardware tokens ship) when the caller's policy allows short seeds."""
    return SHORTEST_IMPORTED_SEED if allow_short else MIN_IMPORTED_SEED


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
        blob: the seed wrapped (RFC 5649, `hsm.wire_format`) under KEK `kek_version`.
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
    """A bounded LRU of the handles of unwrapped seed objects, keyed by (KEK version,
    wrapped blob). It does not call the HSM: the caller destroys what it hands back."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, bytes], int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[int, bytes]) -> int | None:
        handle = self._entries.get(key)
        if handle is not None:
            self._entries.move_to_end(key)
        return handle

    def put(self, key: tuple[int, bytes], handle: int) -> list[int]:
        """Keep `handle`; returns the handles to destroy now: the oldest ones beyond the
        size, or `handle` itself when the cache is off."""
        if self.size <= 0:
            return [handle]
        self._entries[key] = handle
        evicted = []
        while len(self._entries) > self.size:
            evicted.append(self._entries.popitem(last=False)[1])
        return evicted

    def forget(self) -> None:
        """Drop every entry (their session is gone, so are the objects)."""
        self._entries.clear()

    def drain(self) -> list[int]:
        """Empty the cache; returns the handles, for the caller to destroy."""
        handles = list(self._entries.values())
        self._entries.clear()
        return handles


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

    def __init__(self, keys: KeyRing, cache: SeedHandleCache, module: Path) -> None:
        self._keys = keys
        self.cache = cache
        self._module = module
        self._cryptoki: Cryptoki | None = None
        self._formats: dict[int, tuple[int, Mechanism]] = {}
        """KEK version -> (its handle, the wrap mechanism it records)."""

    @property
    def direct(self) -> Cryptoki:
        """The module's own functions for the verify path (loaded on first use)."""
        if self._cryptoki is None:
            self._cryptoki = Cryptoki(self._module)
        return self._cryptoki

    def generate(self, session: pkcs11.Session, algorithm: Algorithm) -> WrappedSeed:
        """Make a random seed inside the HSM and return it wrapped under the current KEK."""
        version = self._keys.current_version(KeyPurpose.SEED_WRAPPING)
        return self._wrap_and_destroy(
            session, self.random_object(session, algorithm), version, algorithm.seed_length
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

    def import_(
        self,
        session: pkcs11.Session,
        seed: bytes,
        algorithm: Algorithm,
        *,
        allow_short: bool = False,
    ) -> WrappedSeed:
        """Wrap a known seed (imported hardware tokens, test vectors) under the current KEK.

        `allow_short` lowers the shortest accepted seed from 128 bits (RFC 4226 R6) to 80
        bits; the caller decides by policy and records that it did.

        Seeds shorter than the hash output are zero-padded up to it: SoftHSM refuses shorter
        HMAC keys, and HMAC pads keys with zeros anyway, so the codes are unchanged. Seeds
        longer than the hash block are replaced by their hash, as HMAC itself does.
        """
        shortest = shortest_seed(allow_short)
        if not shortest <= len(seed) <= MAX_IMPORTED_SEED:
            hint = (
                " (seeds of 80 to 120 bits only under an explicit short-seed policy)"
                if SHORTEST_IMPORTED_SEED <= len(seed) < shortest
                else ""
            )
            raise InvalidSeedRequest(
                f"a seed must be {shortest} to {MAX_IMPORTED_SEED} bytes long, "
                f"not {len(seed)}{hint}"
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
        return self._wrap_and_destroy(session, obj, version, len(seed))

    def wrap(self, session: pkcs11.Session, seed: Any, version: int, length: int) -> WrappedSeed:
        """Wrap the seed object `seed` under KEK `version` with the mechanism the KEK
        records (`hsm.wire_format`); the object is left as it is."""
        kek, mechanism = self._kek_and_format(session, version)
        blob = self.direct.wrap(handle_of(session), kek, handle_of(seed), mechanism)
        return WrappedSeed(blob, version, length)

    def _wrap_and_destroy(
        self, session: pkcs11.Session, seed: Any, version: int, length: int
    ) -> WrappedSeed:
        try:
            return self.wrap(session, seed, version, length)
        finally:
            _destroy(seed)

    def mechanism_of(self, session: pkcs11.Session, version: int) -> Mechanism:
        """The wrap mechanism of the blobs under KEK `version` (`hsm.wire_format`).

        Raises:
            KeyNotFound: the token has no such KEK.
        """
        return self._kek_and_format(session, version)[1]

    def _kek_and_format(self, session: pkcs11.Session, version: int) -> tuple[int, Mechanism]:
        """KEK `version`'s handle and the mechanism it records, with one look at the key
        ring (the mechanism is read from the KEK once per handle)."""
        kek = handle_of(self._kek(session, version))
        known = self._formats.get(version)
        if known is None or known[0] != kek:
            known = (kek, wire_format.recorded(self.direct, handle_of(session), kek))
            self._formats[version] = known
        return known

    def rewrap(
        self, session: pkcs11.Session, seeds: Sequence[WrappedSeed], to_version: int | None
    ) -> list[WrappedSeed]:
        """Unwrap each seed into an object only a trusted key may wrap (`hsm.attributes`),
        wrap it under `to_version`, destroy the object. Seeds under `to_version` already
        pass through. No object made here can be read or wrapped out under another key."""
        target = to_version or self._keys.current_version(KeyPurpose.SEED_WRAPPING)
        new_kek, new_mechanism = self._kek_and_format(session, target)  # fails first if missing
        result, direct, handle = [], self.direct, handle_of(session)
        for seed in seeds:
            if seed.kek_version == target:
                result.append(seed)
                continue
            old_kek, old_mechanism = self._kek_and_format(session, seed.kek_version)
            with _unwrapping(session, seed):
                obj = direct.unwrap(handle, old_kek, seed.blob, old_mechanism, REWRAP_SEED_TEMPLATE)
            try:
                blob = direct.wrap(handle, new_kek, obj, new_mechanism)
            finally:
                self._destroy_handle(session, obj)
            result.append(WrappedSeed(blob, target, seed.length))
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

    def unwrap(self, session: pkcs11.Session, seed: WrappedSeed) -> Any:
        """Unwrap through python-pkcs11 into what the verify path makes (a sensitive,
        SIGN-only session object): a python-pkcs11 object, to compare with the direct
        path in tests and benchmarks."""
        kek = self._kek(session, seed.kek_version)
        with _unwrapping(session, seed):
            obj = kek.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                seed.blob,
                mechanism=self.mechanism_of(session, seed.kek_version),
                store=False,
                capabilities=MechanismFlag.SIGN,
                template=dict(SIGNING_SEED_TEMPLATE),
            )
        # python-pkcs11 asks the HSM for the key type before the first sign (one more call
        # per seed, ~11% of an unwrap and sign); we made the object, so we know it
        obj.key_type = KeyType.GENERIC_SECRET
        return obj

    def unwrap_for_signing(self, session: pkcs11.Session, seed: WrappedSeed) -> int:
        """What `unwrap` makes by default (a sensitive SIGN-only session object), through
        the module's own functions; returns the object's handle."""
        kek, mechanism = self._kek_and_format(session, seed.kek_version)
        with _unwrapping(session, seed):
            return self.direct.unwrap_signing_seed(handle_of(session), kek, seed.blob, mechanism)

    def destroy_session_objects(self, session: pkcs11.Session) -> None:
        """Destroy every cached seed object in the HSM."""
        for handle in self.cache.drain():
            self._destroy_handle(session, handle)

    def forget_session_objects(self) -> None:
        """Drop the handles of an older session: its objects went with it, and the handle
        numbers may name other objects now (a KEK, on some HSMs)."""
        self.cache.forget()
        self._formats.clear()

    def _destroy_handle(self, session: pkcs11.Session, handle: int) -> None:
        try:
            self.direct.destroy(handle_of(session), handle)
        except p11e.PKCS11Error:
            pass  # its session is gone already: so is the object

    def otp_values(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        algorithm: Algorithm,
        digits: int,
        counters: Sequence[int],
    ) -> list[str]:
        """The HOTP values of `seed` at each counter (TOTP: the time steps)."""
        messages = [counter_bytes(c) for c in counters]
        return self.codes(session, seed, algorithm, messages, lambda mac: truncate(mac, digits))

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
        counters = list(counters)
        found = self.first_code(
            session,
            seed,
            algorithm,
            [counter_bytes(c) for c in counters],
            lambda mac: truncate(mac, digits),
            code,
        )
        return None if found is None else counters[found]

    def codes(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        algorithm: Algorithm,
        messages: Sequence[bytes],
        code_of: Callable[[bytes], str],
    ) -> list[str]:
        """For each message, `code_of` its HMAC under `seed`, computed in the HSM: HOTP's
        and TOTP's counters, OCRA's data inputs (`hsm.ocra`)."""
        return self._with_object(
            session, seed, lambda sign: [code_of(_mac(sign, algorithm, m)) for m in messages]
        )

    def first_code(
        self,
        session: pkcs11.Session,
        seed: WrappedSeed,
        algorithm: Algorithm,
        messages: Sequence[bytes],
        code_of: Callable[[bytes], str],
        code: str,
    ) -> int | None:
        """The index of the first of `messages` whose code (as in `codes`) is `code`, or
        None; the codes after a match are not computed, and each comparison takes the same
        time whatever the digits."""

        expected = code.encode()

        def search(sign: _Sign) -> int | None:
            for index, message in enumerate(messages):
                value = code_of(_mac(sign, algorithm, message))
                if hmac.compare_digest(value.encode(), expected):
                    return index
            return None

        return self._with_object(session, seed, search)

    def _with_object(
        self, session: pkcs11.Session, seed: WrappedSeed, use: Callable[[_Sign], T]
    ) -> T:
        """Call `use` with a signing function of `seed` unwrapped: a cached object, or a
        new one that is cached (or destroyed afterwards when the cache is off)."""
        cache_key = (seed.kek_version, seed.blob)
        cached = self.cache.get(cache_key)
        handle = self.unwrap_for_signing(session, seed) if cached is None else cached
        direct, session_handle = self.direct, handle_of(session)

        def sign(mechanism: Mechanism, data: bytes) -> bytes:
            return direct.sign(session_handle, handle, mechanism, data)

        try:
            return use(sign)
        finally:
            if cached is None:
                for old in self.cache.put(cache_key, handle):
                    self._destroy_handle(session, old)


_Sign = Callable[[Mechanism, bytes], bytes]
"""HMAC with one unwrapped seed: (mechanism, data) -> MAC."""


def _mac(sign: _Sign, algorithm: Algorithm, message: bytes) -> bytes:
    try:
        return sign(HMAC_MECHANISMS[algorithm], message)
    except p11e.KeySizeRange as exc:
        raise SeedRejected(f"the seed is too short for {algorithm.value} HMAC in this HSM") from exc


@contextmanager
def _unwrapping(session: pkcs11.Session, seed: WrappedSeed) -> Iterator[None]:
    """Turn the errors of an unwrap that mean "this blob is bad" into SeedRejected."""
    try:
        yield
    except (*_UNWRAP_FAILURES, p11e.GeneralError) as exc:
        # SoftHSM answers CKR_GENERAL_ERROR to an altered blob: only when the session
        # still works is that the blob's fault rather than a lost HSM.
        if isinstance(exc, p11e.GeneralError) and not _session_alive(session):
            raise
        raise SeedRejected(
            f"a wrapped seed does not unwrap under KEK v{seed.kek_version} ({type(exc).__name__})"
        ) from exc

"""`Hsm`: the one object the rest of the product uses to reach the HSM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import pkcs11
import pkcs11.exceptions as p11e
import structlog
from pkcs11 import Mechanism

from hsm import extraction, provisioning, trusted_kek, wire_format
from hsm.config import HsmConfig
from hsm.connection import Connection
from hsm.cryptoki import handle_of
from hsm.errors import HsmError, HsmUnavailable, InvalidSeedRequest, KeyNotFound, SeedRejected
from hsm.executor import SerialExecutor, pkcs11_executor
from hsm.extraction import ExtractionProof
from hsm.keys import KeyInfo, KeyPurpose, KeyRing, key_label
from hsm.ocra import OcraInput, OcraSuite
from hsm.otp import Algorithm, check_digits
from hsm.provisioning import ProvisionedSeed
from hsm.seeds import SeedHandleCache, SeedStore, WrappedSeed
from hsm.selftest import mechanism_self_test
from hsm.wire_format import WrapFormat

log = structlog.get_logger("hsm")

P = ParamSpec("P")
T = TypeVar("T")
J = TypeVar("J")


@dataclass(frozen=True)
class OtpJob:
    """One seed's OTP values to compute: see `Hsm.otp_values_many`."""

    seed: WrappedSeed
    algorithm: Algorithm
    digits: int
    counters: Sequence[int]
    code: str | None = None
    """The code to look for (`Hsm.find_codes` only)."""

    def __repr__(self) -> str:  # never the code
        return f"OtpJob({self.seed!r}, {self.algorithm}, digits={self.digits})"


@dataclass(frozen=True)
class OcraJob:
    """One seed's OCRA responses to look through: see `Hsm.find_ocra_responses`.

    `inputs` is the window, likeliest first: for a suite with T, the same question at the
    expected time step, then the steps either side.
    """

    seed: WrappedSeed
    suite: OcraSuite
    inputs: Sequence[OcraInput]
    response: str

    def __repr__(self) -> str:  # never the response
        return f"OcraJob({self.seed!r}, {self.suite}, inputs={len(self.inputs)})"


@dataclass(frozen=True)
class HsmStatus:
    """What /health/ready and the officer's `status` show."""

    module: str
    token_label: str
    manufacturer: str
    model: str
    key_versions: dict[str, list[int]]
    keys: list[KeyInfo] = field(default_factory=list)
    cached_seed_handles: int = 0
    extraction: ExtractionProof = field(default_factory=ExtractionProof)
    """The extraction attempts made against a scratch seed (`hsm.extraction`)."""
    accepted_weaknesses: frozenset[str] = frozenset()
    wrap_format: WrapFormat | None = None
    """What the known-answer test found (`hsm.wire_format`); a module with no RFC 5649
    mechanism provisions nothing."""

    @property
    def missing_guarantees(self) -> list[str]:
        """The guarantees an attempt broke that the officer has not accepted: any makes
        the HSM unfit to serve."""
        return [w for w in self.extraction.weaknesses if w not in self.accepted_weaknesses]


class Hsm:
    """Thread-safe access to the token: every call runs on the process's PKCS#11 thread.

    Construction does no I/O; the session is opened on first use and re-opened after it is
    lost. Methods raise `HsmError` subclasses only.

    Example:
        >>> hsm = Hsm(HsmConfig(module=Path("/usr/lib/softhsm/libsofthsm2.so"),
        ...                     token_label="otp-server", user_pin="..."))
        >>> wrapped = hsm.generate_seed(Algorithm.SHA1)
        >>> hsm.otp_values(wrapped, Algorithm.SHA1, 6, [41, 42, 43])
    """

    def __init__(
        self,
        config: HsmConfig,
        *,
        executor: SerialExecutor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._executor = executor or pkcs11_executor()
        self._conn = Connection(config, clock=clock)
        self._keys = KeyRing(untrusted_keks=config.kek_without_officer)
        self._cache = SeedHandleCache(config.seed_cache_size)
        self._seeds = SeedStore(self._keys, self._cache, config.module)
        self._generation = 0
        self._clock = clock
        self._keys_loaded_at = clock()
        self._proof: tuple[tuple[object, ...], ExtractionProof] | None = None
        self._format: WrapFormat | None = None
        """The module's known-answer test, made once (`hsm.wire_format`)."""

    # -- running on the PKCS#11 thread -----------------------------------------------------

    async def run_async(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await any method of this object without blocking the event loop: a worker
        thread makes the call, which waits for the PKCS#11 thread as any call does (with
        `call_timeout`)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _call(self, fn: Callable[[], T]) -> T:
        """`fn` on the PKCS#11 thread, given up after `call_timeout` (HsmUnavailable)."""
        try:
            return self._executor.call_within(self.config.call_timeout, fn)
        except TimeoutError as exc:
            raise HsmUnavailable(f"the HSM did not answer in time ({exc})") from exc

    def _run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        try:
            return self._call(lambda: self._conn.run(lambda s: operation(self._sync(s))))
        except p11e.PKCS11Error as exc:  # anything not translated closer to its cause
            raise HsmUnavailable(f"the HSM refused an operation ({type(exc).__name__})") from exc

    def _sync(self, session: pkcs11.Session) -> pkcs11.Session:
        """Forget handles from an older session and find the keys in a new one; scan for
        keys added by others every `key_refresh_interval`."""
        new_session = self._conn.generation != self._generation
        if new_session:
            self._seeds.forget_session_objects()
        if new_session or self._clock() - self._keys_loaded_at > self.config.key_refresh_interval:
            self._reload_keys(session)
            self._generation = self._conn.generation
            self._keys_loaded_at = self._clock()
        return session

    # -- keys ------------------------------------------------------------------------------

    def ensure_keys(self) -> list[str]:
        """Create the missing keys of the hierarchy (KEK, provisioning, audit MAC).

        Returns:
            Labels of the keys created by this call.
        """
        return self._run(lambda session: self._keys.ensure(session, self._make_kek))

    @property
    def token_label(self) -> str:
        """The label of the token this `Hsm` uses."""
        return self.config.token_label

    def reload_keys(self) -> None:
        """Scan the token again, e.g. after an officer added a KEK version."""
        self._run(self._reload_keys)

    def _reload_keys(self, session: pkcs11.Session) -> None:
        """Scan the token for the keys."""
        self._keys.load(session)

    def keys(self) -> list[KeyInfo]:
        """Every key of the hierarchy, with its version and attributes."""
        return self._run(lambda _session: self._keys.inventory())

    def status(self) -> HsmStatus:
        """Open the HSM if needed and describe it; raises HsmUnavailable or KeyNotFound."""

        def describe(session: pkcs11.Session) -> HsmStatus:
            versions = {p.value: self._keys.versions(p) for p in KeyPurpose}
            missing = [name for name, found in versions.items() if not found]
            if missing:
                raise KeyNotFound(
                    f"keys missing on token {self.config.token_label!r}: {', '.join(missing)} "
                    "(run `otp-hsm init-keys`)"
                )
            token = self._conn.token
            proof = self._extraction_proof(session)
            wrap = self._wrap_format(session)
            return HsmStatus(
                module=str(self.config.module),
                token_label=self.config.token_label,
                manufacturer=token.manufacturer_id if token else "",
                model=token.model if token else "",
                key_versions=versions,
                keys=self._keys.inventory(),
                cached_seed_handles=len(self._cache),
                extraction=proof,
                accepted_weaknesses=self.config.accepted_weaknesses,
                wrap_format=wrap,
            )

        return self._run(describe)

    def prove_extraction(self) -> ExtractionProof:
        """Try to take a scratch seed out of the HSM in every way `hsm.extraction` knows,
        with this process's own session, under every KEK; always runs the attempts."""
        self._proof = None
        return self._run(self._extraction_proof)

    def _extraction_proof(self, session: pkcs11.Session) -> ExtractionProof:
        """The proof for the keys on the token now: made again when the keys found on
        the token change (a new, retired or replaced object), else the one made before. An
        inconclusive proof is not kept."""
        fingerprint = tuple(
            (p.value, v, handle_of(self._keys.get(p, v)))
            for p in KeyPurpose
            for v in self._keys.versions(p)
        ) + tuple(self._keys.problems)
        if self._proof is None or self._proof[0] != fingerprint:
            proof = extraction.prove(session, self._keys, self._seeds)
            self._proof = None if "inconclusive" in proof.weaknesses else (fingerprint, proof)
            for attempt in proof.attempts:
                if not attempt.held:
                    log.warning(
                        "hsm.extraction_possible",
                        guarantee=attempt.guarantee,
                        subject=attempt.subject,
                        detail=attempt.detail,
                        accepted=attempt.guarantee in self.config.accepted_weaknesses,
                    )
            return proof
        return self._proof[1]

    # -- seeds -----------------------------------------------------------------------------

    def generate_seed(self, algorithm: Algorithm) -> WrappedSeed:
        """Make a new random seed in the HSM; only its wrapped form comes out."""
        return self._run(lambda session: self._seeds.generate(session, algorithm))

    def import_seed(
        self, seed: bytes, algorithm: Algorithm, *, allow_short: bool = False
    ) -> WrappedSeed:
        """Wrap a known seed (imported tokens, test vectors) under the current KEK.

        Seeds of 128 to 1024 bits; with `allow_short`, from 80 bits (older hardware tokens).
        """
        return self._run(
            lambda session: self._seeds.import_(session, seed, algorithm, allow_short=allow_short)
        )

    def otp_values(
        self, seed: WrappedSeed, algorithm: Algorithm, digits: int, counters: Sequence[int]
    ) -> list[str]:
        """HOTP values of `seed` at `counters` (for TOTP, the time steps), computed in the HSM."""
        check_digits(digits)
        counters = list(counters)
        return self._run(
            lambda session: self._seeds.otp_values(session, seed, algorithm, digits, counters)
        )

    def otp_values_many(self, jobs: Sequence[OtpJob]) -> list[list[str] | HsmError]:
        """`otp_values` for many seeds in one hop to the PKCS#11 thread (the verify API
        batches the requests that arrive together).

        Returns, for each job in order, its values or the error that concerns that job only
        (a seed that does not unwrap, an unknown KEK version, bad digits).

        Raises:
            HsmUnavailable: the HSM cannot be used; no job was answered.
        """

        def values(session: pkcs11.Session, job: OtpJob) -> list[str]:
            check_digits(job.digits)
            return self._seeds.otp_values(
                session, job.seed, job.algorithm, job.digits, job.counters
            )

        return self._each(jobs, values)

    def find_codes(self, jobs: Sequence[OtpJob]) -> list[int | HsmError | None]:
        """For each job, the first of its counters (in the order given: put the likeliest
        first) whose value is the job's `code`, or None; in one hop to the PKCS#11 thread.

        A code that matches early spares the HSM the rest of its window; a code that
        matches nothing costs the whole window, like an unknown user's. Errors as in
        `otp_values_many` (a job without a code is an InvalidSeedRequest).
        """

        def find(session: pkcs11.Session, job: OtpJob) -> int | None:
            check_digits(job.digits)
            if not job.code:
                raise InvalidSeedRequest("a job to match needs the code")
            return self._seeds.first_match(
                session, job.seed, job.algorithm, job.digits, job.counters, job.code
            )

        return self._each(jobs, find)

    def ocra_responses(
        self, seed: WrappedSeed, suite: OcraSuite, inputs: Sequence[OcraInput]
    ) -> list[str]:
        """The OCRA response (RFC 6287) of `seed` for each input, computed in the HSM: the
        data input is built in Python (`OcraSuite.data_input`), its HMAC made with C_Sign
        by the seed unwrapped as for OTP values, and truncated in Python.

        The seed must have been made or imported for `suite.algorithm` (its hash length).

        Raises:
            InvalidSeedRequest: an input does not fit the suite (nothing was computed).
            SeedRejected, KeyNotFound, HsmUnavailable: as `otp_values`.
        """
        messages = [suite.data_input(given) for given in inputs]
        return self._run(
            lambda session: self._seeds.codes(
                session, seed, suite.algorithm, messages, suite.response
            )
        )

    def find_ocra_responses(self, jobs: Sequence[OcraJob]) -> list[OcraInput | HsmError | None]:
        """For each job, the first of its inputs (in the order given) whose OCRA response
        is the job's `response`, or None; every job in one hop to the PKCS#11 thread.

        As `find_codes`: a response that matches early spares the rest of the window, one
        that matches nothing costs the whole window; each comparison takes the same time
        whatever the digits. An error that concerns one job only (an input that does not
        fit its suite, a seed that does not unwrap, an unknown KEK) is that job's answer.

        Raises:
            HsmUnavailable: the HSM cannot be used; no job was answered.
        """

        def find(session: pkcs11.Session, job: OcraJob) -> OcraInput | None:
            if not job.response:
                raise InvalidSeedRequest("an OCRA job to match needs the response")
            inputs = list(job.inputs)
            messages = [job.suite.data_input(given) for given in inputs]
            found = self._seeds.first_code(
                session, job.seed, job.suite.algorithm, messages, job.suite.response, job.response
            )
            return None if found is None else inputs[found]

        return self._each(jobs, find)

    def _each(
        self, jobs: Sequence[J], work: Callable[[pkcs11.Session, J], T]
    ) -> list[T | HsmError]:
        """`work` for each job on the PKCS#11 thread, in one hop; errors that concern one
        job only become its answer."""
        jobs = list(jobs)

        def each(session: pkcs11.Session) -> list[T | HsmError]:
            answers: list[T | HsmError] = []
            for job in jobs:
                try:
                    answers.append(work(session, job))
                except (SeedRejected, KeyNotFound, InvalidSeedRequest) as exc:
                    answers.append(exc)
            return answers

        return self._run(each)

    def rewrap_seeds(
        self, seeds: Sequence[WrappedSeed], to_version: int | None = None
    ) -> list[WrappedSeed]:
        """Re-wrap `seeds` under KEK `to_version` (default: current), inside the HSM.

        Each seed is unwrapped into a session object, wrapped again and destroyed; no seed
        leaves the HSM in plaintext. One call handles a whole batch (one hop to the PKCS#11
        thread). Seeds already under `to_version` come back unchanged.
        """
        seeds = list(seeds)
        return self._run(lambda session: self._seeds.rewrap(session, seeds, to_version))

    def create_kek(self) -> int:
        """Create KEK version n+1; new seeds are wrapped under it from now on.

        Returns:
            The new version.
        """
        return self._run(lambda session: self._keys.create_next_kek(session, self._make_kek))

    def _make_kek(self, session: pkcs11.Session, version: int) -> str:
        """KEK `version`, made trusted by the security officer (`hsm.trusted_kek`)."""
        label = key_label(KeyPurpose.SEED_WRAPPING, version)
        if trusted_kek.discard_pending(session, label):
            log.warning("hsm.pending_kek_discarded", label=label)
        mechanism = self._wrap_format(session).require()
        if not self.config.so_pin and self.config.kek_without_officer:
            trusted_kek.generate_as_user(session, self._seeds.direct, label, mechanism)
            log.warning("hsm.kek_created_without_officer", label=label, trusted=False)
            return label
        trusted_kek.generate_as_officer(
            self.config.module, self.config.token_label, self.config.so_pin, label, mechanism
        )
        trusted_kek.adopt_kek(session, self._seeds.direct, label, mechanism)
        log.info("hsm.kek_created", label=label)
        return label

    def destroy_kek(self, version: int) -> None:
        """Destroy an old KEK version (the caller checks that no seed still uses it).

        Raises:
            InvalidSeedRequest: `version` is the current KEK.
            KeyNotFound: there is no such version.
        """

        self._run(lambda session: self._keys.destroy_kek(session, version))

    def self_test(self) -> dict[str, str | None]:
        """Try every mechanism the product needs; maps its name to None (works) or the error.

        `get_mechanism_info` is not trusted (SoftHSM returns garbage flags for some
        mechanisms): each mechanism is exercised on throw-away session objects.
        """
        return self._run(lambda s: mechanism_self_test(s, self._seeds.direct, self._wrap_format(s)))

    # -- provisioning ----------------------------------------------------------------------

    def provision_seed(
        self,
        algorithm: Algorithm,
        token_point: bytes,
        context: bytes,
        *,
        ocra_suite: OcraSuite | None = None,
    ) -> ProvisionedSeed:
        """A new seed, wrapped under the KEK and for the token whose public point is given;
        with `ocra_suite`, an OCRA seed for that suite's hash beside it (the credential's
        key for transaction signing, docs/protocol.md §6), made and wrapped the same way
        under the same KEK and transport key, in the same hop to the HSM.

        See `hsm.provisioning` and docs/protocol.md for the key agreement and KDF.
        """

        def provision(session: pkcs11.Session) -> ProvisionedSeed:
            mechanism = self._wrap_format(session).require()
            return provisioning.provision(
                session,
                self._seeds,
                self._keys,
                algorithm,
                token_point,
                context,
                mechanism,
                ocra_suite,
            )

        return self._run(provision)

    def wrap_format(self) -> WrapFormat:
        """Which mechanism of this module wraps keys as RFC 5649 (`hsm.wire_format`)."""
        return self._run(self._wrap_format)

    def _wrap_format(self, session: pkcs11.Session) -> WrapFormat:
        if self._format is None:
            self._format = wire_format.find(session, self._seeds.direct)
            log.info(
                "hsm.wrap_format",
                mechanism=None if self._format.mechanism is None else self._format.mechanism.name,
                answers=self._format.answers,
            )
        return self._format

    def sign_provisioning(self, data: bytes, version: int | None = None) -> tuple[int, bytes]:
        """ECDSA P-256 signature (r || s) over SHA-256(data) by provisioning key `version`
        (default: the current one); returns (version, signature). Data that names the key
        it is signed with must pass that version: the current one may change between calls."""
        return self._run(lambda _session: provisioning.sign(self._keys, data, version))

    def provisioning_public_key(self) -> tuple[int, bytes]:
        """(version, uncompressed point) of the provisioning key tokens pin."""
        return self._run(lambda _session: provisioning.public_point(self._keys))

    def keyed_digest(self, purpose: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 in the HSM (the code digest key, domain-separated by `purpose`): for
        short secrets such as e-mailed codes, whose plain hash could be brute-forced
        offline."""
        if not purpose or b"\0" in purpose:
            raise InvalidSeedRequest("a digest purpose is a non-empty label without NUL")
        return self._mac(KeyPurpose.CODE_DIGEST, b"otp-digest\0" + purpose + b"\0" + data)[1]

    # -- audit -----------------------------------------------------------------------------

    def audit_mac(self, data: bytes, version: int | None = None) -> tuple[int, bytes]:
        """HMAC-SHA256 of `data` under the audit key; returns (key version, MAC)."""

        return self._mac(KeyPurpose.AUDIT_MAC, data, version)

    def _mac(
        self, purpose: KeyPurpose, data: bytes, version: int | None = None
    ) -> tuple[int, bytes]:
        def mac(_session: pkcs11.Session) -> tuple[int, bytes]:
            v = version or self._keys.current_version(purpose)
            key = self._keys.get(purpose, v)
            return v, bytes(key.sign(data, mechanism=Mechanism.SHA256_HMAC))

        return self._run(mac)

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Destroy the cached seed objects and close the session."""

        def close() -> None:
            if self._conn.is_open and self._conn.generation == self._generation:
                self._seeds.destroy_session_objects(self._conn.session())
            else:  # the objects went with an older session
                self._seeds.forget_session_objects()
            self._conn.close()

        self._call(close)

"""Reading a PSKC file (RFC 6030) into tokens ready for the HSM, with python-pskc.

python-pskc parses the XML, derives the key (PBKDF2) and decrypts each value (AES-CBC), and
checks each value's MAC. On top of it this module enforces what a bank needs:

- an encrypted file needs its pre-shared key or password; a file with seeds in the clear
  is refused unless the officer allows it explicitly;
- a CBC-encrypted secret must carry a ValueMAC (python-pskc would accept one without, and
  CBC alone does not detect an altered ciphertext);
- only HOTP and TOTP keys with decimal responses of 6 to 8 digits, SHA-1/256/512, and
  OCRA keys (RFC 6287) whose suite the server can verify a transfer with (`_kind`,
  `credentials.rules.check_signing_suite`);
- no document type declaration (so no entity expansion or external entity), whatever the
  document's encoding, and no file over `MAX_PSKC_BYTES`;
- an XML signature (RFC 6030 section 7) is verified against the vendor's certificate, given
  out of band, and only what it covers is read; a signed file without that certificate, or
  a certificate for an unsigned file, is refused;
- RSA key transport (section 6.3) is refused as such: the bank's tokens arrive under a
  pre-shared key or a password;
- each key's validity period (`Policy/StartDate`, `ExpiryDate`) is honoured: a key outside
  it now is skipped and reported. A device with several keys for consecutive periods
  (RFC 6030 figure 10) thus gets the key valid now; several keys valid at once for one
  device are refused as ambiguous.

A key that fails any check is rejected with a reason; the others are kept. Messages name the
key (serial, key id) and the check, never a seed, a key or a password.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from pskc import PSKC
from pskc.exceptions import DecryptionError, KeyDerivationError, PSKCError
from pskc.key import EncryptedValue, Key

from hsm import (
    MAX_IMPORTED_SEED,
    MIN_IMPORTED_SEED,
    SHORTEST_IMPORTED_SEED,
    Algorithm,
    InvalidSeedRequest,
    OcraSuite,
    shortest_seed,
)
from server.db.models import CredentialKind
from server.domain.credentials.rules import check_signing_suite
from server.domain.verification.transfers import QUESTION_LENGTH
from server.errors import InvalidInput

DEFAULT_TOTP_PERIOD = 30  # RFC 6238's default time step, used when the file gives none
MAX_PSKC_BYTES = 64 * 1024 * 1024  # a vendor batch of 1,000 keys is about 1 MiB


@dataclass(frozen=True)
class PreSharedKey:
    """The transport key agreed with the vendor (AES-128/192/256, raw bytes)."""

    value: bytes = field(repr=False)


@dataclass(frozen=True)
class Password:
    """The passphrase a PBKDF2-protected file was made with."""

    value: str = field(repr=False)


Protection = PreSharedKey | Password


@dataclass(frozen=True)
class PskcToken:
    """One key package that decrypted and passed its MAC check.

    Attributes:
        serial: the token's serial number (DeviceInfo/SerialNo, else the key id).
        key_id: the key's Id attribute in the file.
        kind: HOTP, TOTP or OCRA.
        algorithm: the HMAC hash (an OCRA key's: its suite's).
        digits: code length (an OCRA key's: its suite's response length).
        period: TOTP (and OCRA) time step in seconds (60 for HOTP, unused).
        counter: HOTP: the next counter the token will use (0 for TOTP and OCRA).
        drift: TOTP and OCRA: steps the token's clock is ahead, as the vendor measured
            (usually 0).
        seed: the secret, in memory only until the HSM has wrapped it.
        manufacturer: from DeviceInfo, for the report.
        model: from DeviceInfo, for the report.
        suite: an OCRA key's suite (None for HOTP and TOTP).
    """

    serial: str
    key_id: str
    kind: CredentialKind
    algorithm: Algorithm
    digits: int
    period: int
    counter: int
    drift: int
    seed: bytes = field(repr=False)
    manufacturer: str = ""
    model: str = ""
    suite: OcraSuite | None = None

    def describe(self) -> str:
        """A one-line description for reports (never the seed)."""
        short = f" SHORT SEED {len(self.seed) * 8} bits" if self.short_seed else ""
        if self.suite is not None:  # the suite says the hash, the digits and the step
            return f"{self.kind.value} {self.suite.text}{short}"
        what = (
            f"counter {self.counter}"
            if self.kind == CredentialKind.HOTP
            else f"period {self.period}s"
        )
        return f"{self.kind.value} {self.algorithm.value} {self.digits} digits {what}{short}"

    @property
    def short_seed(self) -> bool:
        """The seed has fewer than 128 bits: imported only under the short-seed policy."""
        return len(self.seed) < MIN_IMPORTED_SEED


@dataclass(frozen=True)
class RejectedKey:
    """A key package that cannot be imported, and why."""

    serial: str
    key_id: str
    reason: str


@dataclass(frozen=True)
class PskcBatch:
    """Everything read from one file.

    Attributes:
        tokens: keys that passed every check, in file order.
        rejected: keys that did not, with the reason (they block the import).
        protection: how the file was protected ("pre-shared key", "password", "none").
        digest: SHA-256 of the file, hex (identifies the batch in the audit trail).
        skipped: keys outside their validity period now, with the period (reported, not
            imported, not blocking).
        signed: the file's XML signature was verified.
    """

    tokens: list[PskcToken]
    rejected: list[RejectedKey]
    protection: str
    digest: str
    skipped: list[RejectedKey] = field(default_factory=list)
    signed: bool = False


def read_pskc(
    data: bytes,
    protection: Protection | None,
    *,
    allow_plaintext: bool = False,
    max_bytes: int = MAX_PSKC_BYTES,
    signer_certificate: str | None = None,
    now: datetime | None = None,
    allow_short_seeds: bool = False,
) -> PskcBatch:
    """Parse, decrypt and check a PSKC document.

    Args:
        data: the file's bytes.
        protection: the pre-shared key or password (None for a file in the clear).
        allow_plaintext: accept seeds that are not encrypted in the file.
        max_bytes: the largest file accepted.
        signer_certificate: the vendor's signing certificate (PEM), for a signed file.
        now: the time validity periods are checked at (default: the current time).
        allow_short_seeds: accept seeds of 80 to 120 bits (older hardware tokens); each
            such key is marked `short_seed` and the batch's audit event counts them.

    Raises:
        InvalidInput: the document is not PSKC, is too large, has a document type
            declaration, its signature is missing, unexpected or wrong, it uses RSA key
            transport, or the protection does not fit the file.
    """
    _check_xml(data, max_bytes)
    try:
        container = PSKC(io.BytesIO(data))
    except PSKCError as exc:
        raise InvalidInput(f"not a PSKC file: {_short(exc)}") from exc
    except Exception as exc:  # lxml/defusedxml errors are not PSKCError
        raise InvalidInput(f"not a PSKC file: {type(exc).__name__}") from exc
    container = _signed_part(container, signer_certificate)
    _refuse_rsa_transport(container)
    encryption = container.encryption
    derived = encryption.derivation.algorithm is not None
    encrypted = derived or any(_encrypted(key) for key in container.keys)
    if not encrypted:
        if protection is not None:
            raise InvalidInput("the file is not encrypted, but a key or password was given")
        if not allow_plaintext:
            raise InvalidInput(
                "the seeds in this file are not encrypted: ask the vendor for a protected "
                "file (or allow plaintext explicitly)"
            )
        described = "none"
    elif derived:
        if not isinstance(protection, Password):
            raise InvalidInput("the file is protected by a password (PBKDF2): give the password")
        try:
            encryption.derive_key(protection.value)
        except KeyDerivationError as exc:
            raise InvalidInput(f"the file's key derivation cannot be used: {exc}") from exc
        described = "password"
    else:
        if not isinstance(protection, PreSharedKey):
            raise InvalidInput("the file is protected by a pre-shared key: give the key")
        encryption.key = protection.value
        described = "pre-shared key"

    tokens: list[PskcToken] = []
    rejected: list[RejectedKey] = []
    skipped: list[RejectedKey] = []
    moment = now or datetime.now(UTC)
    for key in container.keys:
        serial = str(key.serial or key.id or "").strip()
        key_id = str(key.id or "")
        outside = _outside_validity(key, moment)
        if outside:
            skipped.append(RejectedKey(serial or "?", key_id, outside))
            continue
        try:
            tokens.append(_token(key, serial, key_id, encrypted, allow_short_seeds))
        except _Rejected as exc:
            rejected.append(RejectedKey(serial or "?", key_id, str(exc)))
    tokens, rejected = _one_key_per_device(tokens, rejected)
    if encrypted and rejected and not tokens and all(_is_mac(r) for r in rejected):
        rejected = [
            RejectedKey(r.serial, r.key_id, r.reason + " (wrong key or password?)")
            for r in rejected
        ]
    return PskcBatch(
        tokens,
        rejected,
        described,
        hashlib.sha256(data).hexdigest(),
        skipped=skipped,
        signed=signer_certificate is not None,
    )


def _signed_part(container: PSKC, certificate: str | None) -> PSKC:
    """The part of the file its XML signature covers, checked against `certificate`."""
    signature = container.signature
    if not signature.is_signed:
        if certificate is not None:
            raise InvalidInput("a signing certificate was given, but the file is not signed")
        return container
    if certificate is None:
        raise InvalidInput(
            "the file carries an XML signature: give the vendor's signing certificate "
            "(received out of band) to check it"
        )
    try:
        signature.verify(certificate=certificate)
        return signature.signed_pskc
    except Exception:  # signxml raises its own and cryptography's errors; no detail needed
        raise InvalidInput(
            "the file's XML signature does not verify against the given certificate: "
            "nothing imported"
        ) from None


def _refuse_rsa_transport(container: PSKC) -> None:
    algorithms = [container.encryption.algorithm or ""]
    algorithms += [_secret_algorithm(key) for key in container.keys]
    if any("rsa" in algorithm.lower() for algorithm in algorithms):
        raise InvalidInput(
            "RSA key transport (RFC 6030 section 6.3) is not supported: ask the vendor for a "
            "file protected by a pre-shared key or a password"
        )


def _outside_validity(key: Key, now: datetime) -> str | None:
    """Why `key` may not be used at `now` by its Policy dates, or None when it may."""
    start, expiry = key.policy.start_date, key.policy.expiry_date
    if start is not None and now < start:
        return f"not valid before {start.astimezone(UTC):%Y-%m-%d %H:%M} UTC: skipped"
    if expiry is not None and now >= expiry:
        return f"expired on {expiry.astimezone(UTC):%Y-%m-%d %H:%M} UTC: skipped"
    return None


def _one_key_per_device(
    tokens: list[PskcToken], rejected: list[RejectedKey]
) -> tuple[list[PskcToken], list[RejectedKey]]:
    """A device (serial) may hold several keys for different periods, but only one may be
    valid at a time: when several are, none can be told to be the one the device uses."""
    counts = Counter(token.serial for token in tokens)
    kept = [token for token in tokens if counts[token.serial] == 1]
    ambiguous = [
        RejectedKey(
            token.serial,
            token.key_id,
            f"the device has {counts[token.serial]} keys valid now; which one it uses is not known",
        )
        for token in tokens
        if counts[token.serial] > 1
    ]
    return kept, rejected + ambiguous


def _check_xml(data: bytes, max_bytes: int) -> None:
    """Refuse a file over `max_bytes` and any DTD, in whatever encoding the file declares.

    PSKC needs no DTD; refusing one rules out entity expansion and external entities
    whatever XML parser python-pskc finds installed. The check is made by an XML parser
    (expat through defusedxml), not by looking for bytes, so that a UTF-16 or UTF-32
    document cannot hide its declaration.
    """
    if len(data) > max_bytes:
        raise InvalidInput(f"the file is larger than {_size(max_bytes)}: not accepted")
    try:
        fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidInput("not a PSKC file: document type declarations are not accepted") from None
    except ParseError as exc:
        line, column = exc.position
        raise InvalidInput(
            f"not a PSKC file: not well-formed XML (line {line}, column {column})"
        ) from None


def _size(count: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


class _Rejected(Exception):
    """This key cannot be imported; the message says why."""


def _encrypted(key: Key) -> bool:
    return isinstance(getattr(key, "_secret", None), EncryptedValue)


def _secret_algorithm(key: Key) -> str:
    """The algorithm URI that encrypts `key`'s secret, or "" when it is not encrypted."""
    secret = getattr(key, "_secret", None)
    return (secret.algorithm or "") if isinstance(secret, EncryptedValue) else ""


def _is_mac(rejected: RejectedKey) -> bool:
    return rejected.reason.startswith(("MAC check failed", "cannot decrypt"))


def _token(
    key: Key, serial: str, key_id: str, encrypted: bool, allow_short_seeds: bool
) -> PskcToken:
    if not serial:
        raise _Rejected("the key has neither a serial number nor an id")
    kind, suite = _kind(key)
    seed, counter, interval, drift = _secret(key, encrypted, allow_short_seeds)
    if (key.response_encoding or "DECIMAL").upper() != "DECIMAL":
        raise _Rejected(f"response encoding {key.response_encoding} is not supported")
    if suite is None:
        algorithm, digits, period = _otp_parameters(key, kind, interval)
    else:
        algorithm, digits, period = _ocra_parameters(key, suite, interval)
    return PskcToken(
        serial=serial,
        key_id=key_id,
        kind=kind,
        algorithm=algorithm,
        digits=digits,
        period=period,
        counter=int(counter or 0) if kind == CredentialKind.HOTP else 0,
        drift=int(drift or 0) if kind != CredentialKind.HOTP else 0,
        seed=seed,
        manufacturer=str(key.manufacturer or ""),
        model=str(key.model or ""),
        suite=suite,
    )


def _otp_parameters(
    key: Key, kind: CredentialKind, interval: int | None
) -> tuple[Algorithm, int, int]:
    """A HOTP or TOTP key's hash, digits and time step (60 for HOTP, unused)."""
    digits = int(key.response_length or 6)
    if not 6 <= digits <= 8:
        raise _Rejected(f"{digits}-digit responses are not supported (6 to 8)")
    hash_name = (key.algorithm_suite or "SHA1").upper().removeprefix("HMAC-")
    try:
        algorithm = Algorithm.parse(hash_name)
    except InvalidSeedRequest:
        raise _Rejected(f"algorithm suite {key.algorithm_suite!r} is not supported") from None
    period = int(interval or DEFAULT_TOTP_PERIOD) if kind == CredentialKind.TOTP else 60
    if not 1 <= period <= 600:
        raise _Rejected(f"a time step of {period} s is not supported (1 to 600)")
    return algorithm, digits, period


def _ocra_parameters(
    key: Key, suite: OcraSuite, interval: int | None
) -> tuple[Algorithm, int, int]:
    """An OCRA key's hash, digits and time step: its suite's, which what else the file
    says of them must agree with."""
    step = suite.time_step
    assert step is not None  # noqa: S101 - check_signing_suite requires a time step
    if key.response_length is not None and int(key.response_length) != suite.digits:
        raise _Rejected(
            f"the key's responses have {key.response_length} digits, but its OCRA suite "
            f"{suite.text} says {suite.digits}"
        )
    if interval is not None and int(interval) != step:
        raise _Rejected(
            f"the key's time step is {interval} s, but its OCRA suite {suite.text} says {step} s"
        )
    return suite.algorithm, suite.digits, step


def _secret(
    key: Key, encrypted: bool, allow_short_seeds: bool
) -> tuple[bytes, int | None, int | None, int | None]:
    """The key's secret, decrypted and its MAC checked, and its counter, time step and
    drift (None where the file gives none)."""
    secret_value = getattr(key, "_secret", None)
    if isinstance(secret_value, EncryptedValue):
        algorithm_uri = secret_value.algorithm or ""
        if algorithm_uri.endswith("-cbc") and not secret_value.mac_value:
            raise _Rejected("the encrypted secret has no ValueMAC: it cannot be checked")
    elif encrypted:
        raise _Rejected("the secret is not encrypted although the file is")
    try:
        seed = key.secret
        counter, interval, drift = key.counter, key.time_interval, key.time_drift
    except DecryptionError as exc:
        message = str(exc)
        if "MAC" in message:
            raise _Rejected(f"MAC check failed ({message})") from None
        raise _Rejected(f"cannot decrypt the secret ({message})") from None
    if not seed:
        raise _Rejected("the key has no secret")
    shortest = shortest_seed(allow_short_seeds)
    if not shortest <= len(seed) <= MAX_IMPORTED_SEED:
        hint = (
            " (80 to 120 bits only with the short-seed policy, --allow-short-seeds)"
            if SHORTEST_IMPORTED_SEED <= len(seed) < shortest
            else ""
        )
        raise _Rejected(
            f"the secret is {len(seed)} bytes; {shortest} to {MAX_IMPORTED_SEED} are accepted{hint}"
        )
    return bytes(seed), counter, interval, drift


def _kind(key: Key) -> tuple[CredentialKind, OcraSuite | None]:
    """The key's kind from its Algorithm URI, and an OCRA key's suite.

    HOTP and TOTP: `urn:ietf:params:xml:ns:keyprov:pskc:hotp` (RFC 6030; older drafts used
    `...pskc#hotp`). OCRA, which the IANA registry of RFC 6030 does not name: `...pskc:ocra`
    (or `#ocra`) with the suite in `<AlgorithmParameters><Suite>`, as vendors ship it; or
    the suite after the `#` of the URI itself,
    `urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA512-8:C-QN08`
    (draft-hoyer-keyprov-pskc-algorithm-profiles-01 §3). A key that names two different
    suites is refused.
    """
    uri = key.algorithm or ""
    given = (key.algorithm_suite or "").strip()
    _, marker, rest = uri.partition("#OCRA-1:")
    if marker:
        in_uri = "OCRA-1:" + rest
        if given and given != in_uri:
            raise _Rejected(
                f"the key names two OCRA suites: {_clip(in_uri)} in its algorithm and "
                f"{_clip(given)} in <Suite>"
            )
        return CredentialKind.OCRA, _signing_suite(in_uri)
    name = uri.lower().replace("#", ":").rsplit(":", 1)[-1]
    if name == "hotp":
        return CredentialKind.HOTP, None
    if name == "totp":
        return CredentialKind.TOTP, None
    if name == "ocra":
        if not given:
            raise _Rejected("the OCRA key has no suite (<AlgorithmParameters><Suite>)")
        return CredentialKind.OCRA, _signing_suite(given)
    raise _Rejected(f"algorithm {uri!r} is not HOTP, TOTP or OCRA")


def _signing_suite(text: str) -> OcraSuite:
    """The OCRA suite `text`, if the server can verify a transfer signed with it."""
    try:
        suite = OcraSuite.parse(text)
    except InvalidSeedRequest as exc:
        raise _Rejected(f"OCRA suite {_clip(text)} is not valid: {exc}") from None
    try:
        check_signing_suite(suite, QUESTION_LENGTH)
    except InvalidInput as exc:
        raise _Rejected(str(exc)) from None
    return suite


def _clip(text: str) -> str:
    """`text` as a message shows what a file says: quoted, and cut at 80 characters."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]

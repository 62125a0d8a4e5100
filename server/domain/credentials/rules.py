"""The credentials' rules: pure functions and small value types, no I/O and no clock (every
function is given `now`). The service (`service.py`) reads, asks the HSM, applies these and
writes (`store.py`); docs/design.md §9 says where each rule lives.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from hsm import Algorithm, OcraSuite, QuestionFormat, totp_counter
from server.db.models import Credential, CredentialKind, CredentialStatus
from server.errors import Conflict, InvalidInput

RESYNC_TOTP_STEPS = 240  # ±4 hours at 60 s
RESYNC_HOTP_COUNTERS = 1000


@dataclass(frozen=True)
class SeedImport:
    """A known seed to load (an imported hardware token, or a test)."""

    seed: bytes = field(repr=False)
    kind: CredentialKind = CredentialKind.TOTP
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 60
    counter: int = 0
    serial: str | None = None
    allow_short_seed: bool = False
    """Accept a seed of 80 to 120 bits (older hardware tokens); the audit event says so."""


def check_import(spec: SeedImport) -> None:
    """Refuse an import whose period, counter or length of code no token could have; the
    seed's own length is the HSM's to judge (`hsm.MIN_IMPORTED_SEED`).

    Raises:
        InvalidInput: which of them is wrong, in words.
    """
    if spec.kind == CredentialKind.OCRA:
        raise InvalidInput("an OCRA seed is imported with its suite, from a PSKC file")
    if spec.kind == CredentialKind.TOTP and not 1 <= spec.period <= 600:
        raise InvalidInput("a TOTP period is 1 to 600 seconds")
    if spec.counter < 0:
        raise InvalidInput("an HOTP counter cannot be negative")
    if not 6 <= spec.digits <= 8:
        raise InvalidInput("an OTP has 6 to 8 digits")


MAX_SIGNING_STEP = 300
"""The longest OCRA time step a signing token may have, in seconds: with the window of one
step either side, a response stays good for at most three of them (15 minutes), and the
server remembers accepted ones far longer than that (a day)."""


def check_signing_suite(suite: OcraSuite, question_length: int) -> None:
    """Refuse an imported OCRA key whose suite the server could never verify a transfer
    with. The server asks each transfer's question as `question_length` alphanumeric
    characters at a time step (docs/protocol.md §6), and keeps no OCRA counter, PIN or
    session information for a credential: the suite must have a time step (T) of at most
    `MAX_SIGNING_STEP`, an alphanumeric question (QA) of at least `question_length`
    characters, no counter (C), PIN (P) or session (S), and responses of 6 to 10 digits.

    Raises:
        InvalidInput: naming the suite and everything it lacks, in words.
    """
    lacks = []
    if suite.counter:
        lacks.append("it takes a counter (C), which the server does not keep")
    if suite.pin_algorithm is not None:
        lacks.append("it takes a PIN (P), which the server does not hold")
    if suite.session_length is not None:
        lacks.append("it takes session information (S), which a transfer has none of")
    if suite.time_step is None:
        lacks.append("it has no time step (T)")
    elif suite.time_step > MAX_SIGNING_STEP:
        lacks.append(
            f"its time step is {suite.time_step} s: a response must expire within minutes "
            f"(T{MAX_SIGNING_STEP // 60}M at most)"
        )
    if suite.question_format is not QuestionFormat.ALPHANUMERIC:
        lacks.append(
            f"its question is {suite.question_format.name.lower()} "
            f"(Q{suite.question_format.value}), not alphanumeric (QA)"
        )
    if suite.question_length < question_length:
        lacks.append(
            f"its question has at most {suite.question_length} characters, not the "
            f"{question_length} of a transfer"
        )
    if not 6 <= suite.digits <= 10:
        lacks.append(f"its responses have {suite.digits} digits, not 6 to 10")
    if lacks:
        reasons = "; ".join(lacks)
        raise InvalidInput(f"OCRA suite {suite.text} cannot sign transfers here: {reasons}")


def first_last_step(spec: SeedImport) -> int:
    """The `last_step` an imported credential starts with: an HOTP token's next code is
    the one of `spec.counter`; a TOTP credential has accepted no step yet."""
    return spec.counter - 1 if spec.kind == "hotp" else -1


class OfficerAction(enum.StrEnum):
    """What an officer does to one credential (`otp-admin credentials ...`)."""

    UNLOCK = "unlock"
    RESYNC = "resync"
    REVOKE = "revoke"


def refuse_unless_allowed(action: OfficerAction, public_id: str, status: str) -> None:
    """Refuse `action` on a credential in `status`: an unlock is harmless in any status; a
    resynchronisation or a revocation needs an active credential (a stopped credential
    stays stopped, and stays as it was when it stopped).

    Raises:
        Conflict: the action is refused, and why.
    """
    if action is OfficerAction.UNLOCK or status == CredentialStatus.ACTIVE:
        return
    if action is OfficerAction.REVOKE:
        raise Conflict(f"credential {public_id} is {status} already")
    raise Conflict(f"credential {public_id} is {status}")


def refuse_resync_of_kind(public_id: str, kind: str) -> None:
    """Refuse to resynchronise a credential of `kind` from two codes: only TOTP and HOTP
    tokens show codes; an OCRA credential (imported to sign transfers) answers
    challenges instead.

    Raises:
        Conflict: the credential is an OCRA one.
    """
    if kind == CredentialKind.OCRA:
        raise Conflict(
            f"credential {public_id} signs transfers (OCRA): it shows no codes, so it cannot "
            "be resynchronised from two of them"
        )


def stop_action(status: CredentialStatus) -> str:
    """The audit action of an officer stopping a credential with `status`:
    `credential.revoke` for revoked, `credential.retire` for retired."""
    return f"credential.{status.value.removesuffix('d')}"


def stop(credential: Credential, status: CredentialStatus, now: float) -> None:
    """Stop `credential` for good with `status`: its codes are rejected from now on."""
    credential.status = status
    credential.updated_at = now


def clear_lockout(credential: Credential, now: float) -> None:
    """Forget the failures and any lock: the escalation starts again from the beginning."""
    credential.failure_count, credential.lockouts, credential.locked_until = 0, 0, None
    credential.updated_at = now


def resync_counters(kind: str, last_step: int, period: int, now: float) -> list[int]:
    """The counters a resynchronisation searches: an HOTP credential's next
    `RESYNC_HOTP_COUNTERS`; a TOTP credential's steps within `RESYNC_TOTP_STEPS` of `now`
    (±4 hours at 60 s)."""
    if kind == CredentialKind.HOTP:
        return list(range(last_step + 1, last_step + 1 + RESYNC_HOTP_COUNTERS))
    centre = totp_counter(now, period)
    return list(range(centre - RESYNC_TOTP_STEPS, centre + RESYNC_TOTP_STEPS + 1))


def resync_step(
    counters: Sequence[int], codes: Sequence[str], first: str, second: str, last_step: int
) -> int:
    """The counter of `second`, where `first` and `second` are the codes of two consecutive
    `counters` (`codes[i]` is the code of `counters[i]`), later than `last_step`: codes
    already used, or older, never move the window back.

    Raises:
        InvalidInput: no two consecutive counters give these codes.
    """
    found = None
    for index in range(len(counters) - 1):
        if hmac.compare_digest(codes[index], first) and hmac.compare_digest(
            codes[index + 1], second
        ):
            found = counters[index + 1]
            break
    if found is None or found <= last_step:
        raise InvalidInput("these two codes are not consecutive codes of this credential")
    return found


def resynchronise(credential: Credential, step: int, now: float) -> None:
    """Move `credential`'s window to `step` (from `resync_step`): both codes become used, a
    TOTP credential learns the drift of the token's clock, and the failures are forgotten."""
    credential.last_step = step
    if credential.kind == CredentialKind.TOTP:
        credential.drift = step - totp_counter(now, credential.period)
    clear_lockout(credential, now)


class TokenAbility(enum.StrEnum):
    """What a customer's active credentials let the portal ask them for."""

    NONE = "none"
    """No active credential: nothing to approve an operation with."""
    CODES = "codes"
    """Plain codes only (a TOTP or HOTP credential made before transaction signing, or
    imported): a transfer is approved with a code."""
    SIGNS = "signs"
    """A credential with an OCRA seed: a transfer is signed on the token."""


def ability_of(ocra_suites: Sequence[str | None]) -> TokenAbility:
    """What the active credentials whose OCRA suites are `ocra_suites` (None: a credential
    without an OCRA seed) can do: one that signs is enough for transfers to be signed."""
    if not ocra_suites:
        return TokenAbility.NONE
    if any(suite is not None for suite in ocra_suites):
        return TokenAbility.SIGNS
    return TokenAbility.CODES


@dataclass(frozen=True)
class CustomerTokens:
    """What a customer's active credentials let the portal ask for."""

    ability: TokenAbility
    gives_codes: bool
    """One of them shows codes (any but an imported OCRA token, which only answers)."""


def tokens_of(active: Sequence[tuple[str, str | None]]) -> CustomerTokens:
    """The tokens of a customer whose active credentials are `active`: (kind, OCRA suite
    or None) each."""
    return CustomerTokens(
        ability_of([suite for _, suite in active]),
        any(kind != CredentialKind.OCRA for kind, _ in active),
    )


def owned_by(public_key: bytes, token_point: bytes) -> bool:
    """Whether the device key a credential was provisioned to is the key that signed a
    token's request (compared in constant time)."""
    return hmac.compare_digest(public_key, token_point)

"""The verify API's request and response bodies (msgspec validates them at the edge)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from server.domain.verification.purposes import Purpose

TransactionValue = str | int | float | bool | None
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (PostgreSQL cannot store a NUL; a newline would forge log lines)."""
MAX_TRANSACTION_FIELDS = 32
MAX_TRANSACTION_NAME = 64
TRANSACTION_SCHEMA = {
    # Litestar would write the union as `oneOf` of integer and number, which no integer can
    # satisfy (it is both), and would leave out the two limits: the OpenAPI gets it whole.
    "one_of": [
        {
            "type": "object",
            "maxProperties": MAX_TRANSACTION_FIELDS,
            "propertyNames": {"maxLength": MAX_TRANSACTION_NAME},
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
        {"type": "null"},
    ]
}


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    """A code to check.

    Attributes:
        username: the bank customer's username.
        purpose: what the code approves.
        code: the 6 to 8 digits the customer typed; or
        response: the token's response: for a transfer, over its amount and payee
            (docs/protocol.md §6.1); for any other purpose, over
        challenge: the 8 digits the bank showed the customer (§6.2).
        transaction: details of what is approved (amount, destination account, ...); shown
            in the audit trail. A signed transfer names `amount`, `currency`, `payee`.
        source: where the customer is (e.g. the IP address the bank sees); failures are
            also rate-limited per source.
        context: the bank's name for the customer's device or session (a value an attacker
            cannot read, e.g. a long-lived device cookie): once the customer got in from it,
            wrong codes from elsewhere never keep them out there (docs/design.md §4).
        authenticated: true when the bank checked the customer's password for this very
            attempt: such guesses use a budget that wrong codes without it cannot exhaust.
    """

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=150, pattern=PRINTABLE)]
    purpose: Purpose
    code: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^[0-9]{6,8}$",
                description="6 to 8 digits: the code the token shows. Send `code` or `response`.",
                examples=["123456"],
            ),
        ]
        | UnsetType
    ) = UNSET
    response: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^[0-9]{6,10}$",
                description=(
                    "The transfer's signature: the digits the token showed after the "
                    "customer typed the amount and payee (docs/protocol.md §6). Only with "
                    "`purpose: transfer` and `transaction` giving `amount` (a string, "
                    '"1250.00"), `currency` and `payee`.'
                ),
                examples=["34728133"],
            ),
        ]
        | UnsetType
    ) = UNSET
    challenge: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^[0-9]{8}$",
                description=(
                    "With `response`, for any purpose but a transfer: the 8 digits the bank "
                    "showed the customer to type on the token (random for each attempt; "
                    "docs/protocol.md §6.2)."
                ),
                examples=["48213977"],
            ),
        ]
        | UnsetType
    ) = UNSET
    transaction: (
        Annotated[
            dict[Annotated[str, msgspec.Meta(max_length=MAX_TRANSACTION_NAME)], TransactionValue],
            msgspec.Meta(
                max_length=MAX_TRANSACTION_FIELDS, extra_json_schema={"extra": TRANSACTION_SCHEMA}
            ),
        ]
        | None
    ) = None
    source: Annotated[str, msgspec.Meta(max_length=100, pattern=PRINTABLE)] | None = None
    context: (
        Annotated[str, msgspec.Meta(min_length=16, max_length=200, pattern=PRINTABLE)] | None
    ) = None
    authenticated: bool = False

    OPENAPI_ONE_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "required": ["code"],
            "not": {"anyOf": [{"required": ["response"]}, {"required": ["challenge"]}]},
        },
        {
            "required": ["response", "transaction"],
            "not": {"anyOf": [{"required": ["code"]}, {"required": ["challenge"]}]},
            "properties": {
                "purpose": {"const": "transfer"},
                "transaction": {
                    "type": "object",
                    "required": ["amount", "currency", "payee"],
                    "properties": {
                        "amount": {"type": "string", "examples": ["1250.00"]},
                        "currency": {"type": "string", "examples": ["EUR"]},
                        "payee": {"type": "string", "examples": ["ES91 2100 0418 4502 0005 4321"]},
                    },
                },
            },
        },
        {
            "required": ["response", "challenge"],
            "not": {"required": ["code"]},
            "properties": {"purpose": {"not": {"const": "transfer"}}},
        },
    ]
    """For the OpenAPI (`server.openapi`): a code; or a transfer's response with its
    transaction; or, for any other purpose, a response with the challenge it answers."""


class VerifyAnswer(msgspec.Struct, omit_defaults=True):
    """The decision.

    `result` is `accepted` (200), `rejected` (403), `locked` (423, with `retry_after`: the
    guessing budget of this context is spent; the customer's own device or a password-checked
    attempt has budgets of its own),
    `rate_limited` (429, with `retry_after`) or `unavailable` (503: the HSM cannot be used;
    never `accepted`). An unknown user and a wrong code get the same `rejected` answer.
    `reason` is only sent when the bank can act on it: `signing_required`, a plain code
    for a transfer this client must have signed on the token (docs/protocol.md §6).
    """

    result: str
    purpose: str
    credential_id: str | None = None
    retry_after: int | None = None
    reason: str | None = None
    message: str = ""


class ErrorAnswer(msgspec.Struct):
    """A request that could not be decided: the HTTP status again and what was wrong."""

    status_code: int
    detail: str

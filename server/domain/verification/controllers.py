"""`POST /api/v1/verify`: the bank asks whether a customer's code is good."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body

from server.domain.verification.endpoint import (
    MESSAGES,
    SIGNING_MESSAGE,
    STATUS,
    VerifyEndpoint,
)
from server.domain.verification.rules import Result
from server.domain.verification.schemas import ErrorAnswer, VerifyAnswer, VerifyBody
from server.domain.verification.service import SIGNING_REQUIRED

ERRORS = {
    401: "no API key, a wrong one, or more than one (with `WWW-Authenticate`)",
    413: "the body is over the size limit (`OTP_MAX_BODY_BYTES`)",
    415: "the body is not sent as JSON (`Content-Type: application/json`)",
}

EXTRA: dict[Result, dict[str, str | int]] = {
    Result.ACCEPTED: {"credential_id": "cred_1ceefb19e61cb7e76912"},
    Result.LOCKED: {"retry_after": 900},
    Result.RATE_LIMITED: {"retry_after": 60},
}


REQUESTS = [
    Example(
        summary="a code",
        value={"username": "maria.lopez", "purpose": "login", "code": "123456"},
    ),
    Example(
        summary="a transfer signed on the token (docs/protocol.md §6.1)",
        value={
            "username": "maria.lopez",
            "purpose": "transfer",
            "response": "87175005",
            "transaction": {
                "amount": "1250.00",
                "currency": "EUR",
                "payee": "ES91 2100 0418 4502 0005 4321",
            },
        },
    ),
    Example(
        summary="a token that gives no codes answers the bank's challenge (§6.2)",
        value={
            "username": "maria.lopez",
            "purpose": "login",
            "response": "60412273",
            "challenge": "48213977",
        },
    ),
]


def _decision(result: Result) -> ResponseSpec:
    """The answer with `result`, and an example of it: the words the endpoint sends."""
    example = {"result": result.value, "purpose": "login", **EXTRA.get(result, {})}
    example["message"] = MESSAGES[result]
    examples = [Example(summary=result.value, value=example)]
    if result is Result.REJECTED:
        examples.append(
            Example(
                summary=SIGNING_REQUIRED,
                value={
                    "result": result.value,
                    "purpose": "transfer",
                    "reason": SIGNING_REQUIRED,
                    "message": SIGNING_MESSAGE,
                },
            )
        )
    return ResponseSpec(
        data_container=VerifyAnswer,
        description=MESSAGES[result],
        generate_examples=False,
        examples=examples,
    )


class VerifyController(Controller):
    """The relying parties' API."""

    path = "/api/v1"
    tags = ("verification",)

    @post(
        "/verify",
        summary="Check a one-time code",
        description=(
            "Decide on a code for a purpose. Each decision is audited with the transaction. "
            "An invalid body gets 400 naming the field; a purpose this client may not "
            "verify gets 403 with an error `detail` (not a decision)."
        ),
        status_code=200,
        middleware=[VerifyEndpoint],
        security=[{"apiKey": []}],
        responses={
            **{status: _decision(result) for result, status in STATUS.items()},
            **{
                status: ResponseSpec(data_container=ErrorAnswer, description=description)
                for status, description in ERRORS.items()
            },
        },
    )
    async def verify(self, data: Annotated[VerifyBody, Body(examples=REQUESTS)]) -> VerifyAnswer:
        """Declares and documents the route; VerifyEndpoint, its middleware, answers every
        request (see that module), so this is never called."""
        raise NotImplementedError

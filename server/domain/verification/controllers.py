"""`POST /api/v1/verify`: the bank asks whether a customer's code is good."""

from __future__ import annotations

from litestar import Controller, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from server.domain.verification.endpoint import MESSAGES, STATUS, VerifyEndpoint
from server.domain.verification.schemas import ErrorAnswer, VerifyAnswer, VerifyBody

ERRORS = {
    401: "no API key, a wrong one, or more than one (with `WWW-Authenticate`)",
    413: "the body is over the size limit (`OTP_MAX_BODY_BYTES`)",
    415: "the body is not sent as JSON (`Content-Type: application/json`)",
}


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
            **{
                status: ResponseSpec(data_container=VerifyAnswer, description=MESSAGES[result])
                for result, status in STATUS.items()
                if status != 200
            },
            **{
                status: ResponseSpec(data_container=ErrorAnswer, description=description)
                for status, description in ERRORS.items()
            },
        },
    )
    async def verify(self, data: JSONBody[VerifyBody]) -> VerifyAnswer:
        """Declares and documents the route; VerifyEndpoint, its middleware, answers every
        request (see that module), so this is never called."""
        raise NotImplementedError

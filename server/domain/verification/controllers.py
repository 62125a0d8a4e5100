"""`POST /api/v1/verify`: the bank asks whether a customer's code is good."""

from __future__ import annotations

from litestar import Controller, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from server.domain.verification.endpoint import MESSAGES, STATUS, VerifyEndpoint
from server.domain.verification.schemas import VerifyAnswer, VerifyBody


class VerifyController(Controller):
    """The relying parties' API."""

    path = "/api/v1"
    tags = ("verification",)

    @post(
        "/verify",
        summary="Check a one-time code",
        status_code=200,
        middleware=[VerifyEndpoint],
        security=[{"apiKey": []}],
        responses={
            status: ResponseSpec(data_container=VerifyAnswer, description=MESSAGES[result])
            for result, status in STATUS.items()
            if status != 200
        },
    )
    async def verify(self, data: JSONBody[VerifyBody]) -> VerifyAnswer:
        """Decide on a code for a purpose. Each decision is audited with the transaction.

        The body must be JSON (`Content-Type: application/json`). Errors: 400 for an invalid
        body, 401 for a missing or wrong API key, 403 for a purpose the client may not
        verify, 413 for a body over the size limit, 415 for a body that is not JSON."""
        # VerifyEndpoint, this route's middleware, answers every request (see its module)
        raise NotImplementedError

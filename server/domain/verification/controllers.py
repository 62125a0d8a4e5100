"""`POST /api/v1/verify`: the bank asks whether a customer's code is good."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Response
from sqlalchemy.exc import SQLAlchemyError

from server.db.models import RelyingParty
from server.domain.clients.guards import require_client
from server.domain.clients.services import allowed_purposes
from server.domain.verification.schemas import VerifyAnswer, VerifyBody
from server.domain.verification.services import Outcome, Result, VerifyRequest
from server.errors import NotAllowed
from server.services import Services

STATUS = {
    Result.ACCEPTED: 200,
    Result.REJECTED: 403,
    Result.LOCKED: 423,
    Result.RATE_LIMITED: 429,
    Result.UNAVAILABLE: 503,
}
MESSAGES = {
    Result.ACCEPTED: "the code is valid",
    Result.REJECTED: "the username or the code is not correct",
    Result.LOCKED: "too many wrong codes: try again later",
    Result.RATE_LIMITED: "too many wrong codes from this source: try again later",
    Result.UNAVAILABLE: "codes cannot be checked right now: try again shortly",
}


class VerifyController(Controller):
    """The relying parties' API."""

    path = "/api/v1"
    tags = ("verification",)

    @post(
        "/verify",
        summary="Check a one-time code",
        status_code=200,
        before_request=require_client,
        security=[{"apiKey": []}],
        responses={
            status: ResponseSpec(data_container=VerifyAnswer, description=MESSAGES[result])
            for result, status in STATUS.items()
            if status != 200
        },
    )
    async def verify(
        self, data: JSONBody[VerifyBody], request: Request[Any, Any, Any], state: State
    ) -> Response[VerifyAnswer]:
        """Decide on a code for a purpose. Each decision is audited with the transaction."""
        services: Services = state.services
        client: RelyingParty = request.state.client
        if data.purpose.value not in allowed_purposes(client):
            raise NotAllowed(
                f"client {client.name!r} may not verify codes for {data.purpose.value!r}"
            )
        started = time.perf_counter()
        source = data.source or ""  # the end customer's address, as the bank sees it
        try:
            outcome = await services.verify_batcher.verify(
                VerifyRequest(
                    username=data.username,
                    code=data.code,
                    purpose=data.purpose.value,
                    client=client.name,
                    source=source,
                    transaction=data.transaction or {},
                )
            )
        except SQLAlchemyError:
            outcome = Outcome(Result.UNAVAILABLE, "database_unavailable", retry_after=1)
        services.metrics.verify_latency.observe(time.perf_counter() - started)
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
        answer = VerifyAnswer(
            result=outcome.result.value,
            purpose=data.purpose.value,
            credential_id=outcome.credential_id if outcome.result is Result.ACCEPTED else None,
            retry_after=outcome.retry_after,
            message=MESSAGES[outcome.result],
        )
        return Response(answer, status_code=STATUS[outcome.result], headers=headers)

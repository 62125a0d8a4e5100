"""The ASGI app that answers `POST /api/v1/verify`.

`VerifyController.verify` declares the route: Litestar routes to it, documents it in
`/schema` and wraps it in the application's exception handling. This app is that route's
middleware and answers every request itself, as a plain ASGI app. It reads a bounded JSON
body, authenticates the client, validates with msgspec and sends pre-encoded headers. It
builds no `Request`, no keyword-argument model, no hooks and no `Response` object. For this
one route, those cost about 90 µs of the 110 µs a request spent on the event loop (in-process,
measured for the session-6 note).

Errors are raised as domain errors, before anything is sent, and become the same JSON answers
as on every other route.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.exc import SQLAlchemyError

from server.domain.clients.guards import authenticate_client
from server.domain.clients.services import allowed_purposes
from server.domain.verification.schemas import VerifyAnswer, VerifyBody
from server.domain.verification.services import Outcome, Result, VerifyRequest
from server.errors import InvalidInput, NotAllowed, NotJson, TooLarge
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

_DECODER = msgspec.json.Decoder(VerifyBody)
_ENCODER = msgspec.json.Encoder()


class _Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


class VerifyEndpoint:
    """The verify route's work, as the route's (only) middleware."""

    def __init__(self, app: ASGIApp) -> None:
        del app  # the declared handler documents the route; it is never called
        self._services: Services | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._max_body = 0

    def _bind(self, scope: Scope) -> Services:
        """The application's services and settings, looked up on the first request."""
        state = scope["litestar_app"].state
        services: Services = state.services
        self._headers = [(b"content-type", b"application/json")] + [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in state.security_headers.items()
        ]
        self._max_body = services.settings.max_body_bytes
        self._services = services
        return services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self._services or self._bind(scope)
        authorization = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        # the client first, before the body is read (as a guard would)
        client = await authenticate_client(services, authorization)
        if not _is_json(content_type):
            raise NotJson("the body must be JSON (Content-Type: application/json)")
        try:
            body = await self._read_body(receive, length)
        except _Disconnected:
            return
        try:
            data = _DECODER.decode(body)
        except msgspec.DecodeError as exc:  # msgspec names the field, never echoes a code
            raise InvalidInput(f"invalid request body: {exc}") from None
        purpose = data.purpose.value
        if purpose not in allowed_purposes(client):
            raise NotAllowed(f"client {client.name!r} may not verify codes for {purpose!r}")

        started = time.perf_counter()
        try:
            outcome = await services.verify_batcher.verify(
                VerifyRequest(
                    username=data.username,
                    code=data.code,
                    purpose=purpose,
                    client=client.name,
                    source=data.source or "",  # the end customer's address, as the bank sees it
                    transaction=data.transaction or {},
                )
            )
        except SQLAlchemyError:
            outcome = Outcome(Result.UNAVAILABLE, "database_unavailable", retry_after=1)
        services.metrics.verify_latency.observe(time.perf_counter() - started)
        await self._answer(send, outcome, purpose)

    async def _read_body(self, receive: Receive, length: bytes | None) -> bytes:
        if length is not None and length.isdigit() and int(length) > self._max_body:
            raise TooLarge(f"the body is larger than {self._max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Any = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise TooLarge(f"the body is larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _answer(self, send: Send, outcome: Outcome, purpose: str) -> None:
        result = outcome.result
        body = _ENCODER.encode(
            VerifyAnswer(
                result=result.value,
                purpose=purpose,
                credential_id=outcome.credential_id if result is Result.ACCEPTED else None,
                retry_after=outcome.retry_after,
                message=MESSAGES[result],
            )
        )
        headers = [*self._headers, (b"content-length", str(len(body)).encode())]
        if outcome.retry_after:
            headers.append((b"retry-after", str(outcome.retry_after).encode()))
        await send({"type": "http.response.start", "status": STATUS[result], "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _is_json(content_type: bytes | None) -> bool:
    """`application/json`, with parameters (`; charset=utf-8`) or a `+json` suffix."""
    if content_type is None:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )

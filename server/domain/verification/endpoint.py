"""The ASGI app that answers `POST /api/v1/verify`.

`VerifyController.verify` declares the route: Litestar routes to it, documents it in
`/schema` and wraps it in the application's exception handling. This app is that route's
middleware and answers every request itself, as a plain ASGI app. It reads a bounded JSON
body, authenticates the client, validates with msgspec and sends pre-encoded headers. It
builds no `Request`, no keyword-argument model, no hooks and no `Response` object. For this
one route, those cost about 90 µs of the 110 µs a request spent on the event loop (the same
app in-process, this endpoint against the former Litestar handler); `python -m benchmarks
verify` shows the effect end to end.

Errors are raised before anything is sent, as domain errors (or Litestar's validation error,
whose answer names the field as it always did), and become the same JSON answers as on
every other route. Being middleware, this app also bypasses any application-level
middleware and after-request hook: `create_app` says so where they are configured.
"""

from __future__ import annotations

import time

import msgspec
from litestar import Litestar
from litestar.exceptions import ValidationException
from litestar.types import ASGIApp, Receive, Scope, Send
from msgspec import UNSET
from sqlalchemy.exc import SQLAlchemyError

from server.db.models import RelyingParty
from server.domain.clients.guards import authenticate_client
from server.domain.clients.services import allowed_purposes
from server.domain.verification.purposes import Purpose
from server.domain.verification.rules import Outcome, Result, VerifyRequest
from server.domain.verification.schemas import VerifyAnswer, VerifyBody
from server.domain.verification.service import SIGNING_REQUIRED
from server.domain.verification.transfers import (
    DEFAULT_CURRENCY,
    TransactionRefused,
    needs_signature,
    transfer_of,
)
from server.errors import InvalidInput, NotAllowed, NotAuthenticated
from server.services import Services
from server.transport import NotJson, TooLarge

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
SIGNING_MESSAGE = (
    "this transfer must be signed on the token: send the response to its amount and payee"
)

_DECODER = msgspec.json.Decoder(VerifyBody)
_ENCODER = msgspec.json.Encoder()
_PURPOSES = ", ".join(p.value for p in Purpose)
_MAX_LENGTH_DIGITS = 18  # a Content-Length beyond this is no number a server should parse


class _Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


class VerifyEndpoint:
    """The verify route's work, as the route's (only) middleware."""

    def __init__(self, app: ASGIApp) -> None:
        del app  # the declared handler documents the route; it is never called
        self._services: Services | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._max_body = 0
        self._currency = DEFAULT_CURRENCY

    def _bind(self, scope: Scope) -> Services:
        """The application's services and settings, looked up on the first request."""
        state = Litestar.from_scope(scope).state
        services: Services = state.services
        self._headers = [(b"content-type", b"application/json")] + [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in state.security_headers.items()
        ]
        self._max_body = services.settings.max_body_bytes
        self._currency = services.settings.signing_currency
        self._services = services
        return services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self._services if self._services is not None else self._bind(scope)
        authorization = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:  # which key would count? neither
                    raise NotAuthenticated("send one API key, in one Authorization header")
                authorization = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"content-length" and length is None:
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
        except msgspec.DecodeError as exc:
            raise _invalid(str(exc)) from None
        purpose = data.purpose.value
        if purpose not in allowed_purposes(client):
            raise NotAllowed(f"client {client.name!r} may not verify codes for {purpose!r}")
        request = _request(data, client, self._currency)

        started = time.perf_counter()
        try:
            outcome = await services.verify_batcher.verify(request)
        except SQLAlchemyError:
            outcome = Outcome(Result.UNAVAILABLE, "database_unavailable", retry_after=1)
        services.metrics.verify_latency.observe(time.perf_counter() - started)
        await self._answer(send, outcome, purpose)

    async def _read_body(self, receive: Receive, length: bytes | None) -> bytes:
        if length is not None:
            if not length.isdigit() or len(length) > _MAX_LENGTH_DIGITS:
                raise InvalidInput("the Content-Length header is not a number of bytes")
            if int(length) > self._max_body:
                raise TooLarge(f"the body is larger than {self._max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
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
                reason=SIGNING_REQUIRED if outcome.reason == SIGNING_REQUIRED else None,
                message=SIGNING_MESSAGE if outcome.reason == SIGNING_REQUIRED else MESSAGES[result],
            )
        )
        headers = [*self._headers, (b"content-length", str(len(body)).encode())]
        if outcome.retry_after:
            headers.append((b"retry-after", str(outcome.retry_after).encode()))
        await send({"type": "http.response.start", "status": STATUS[result], "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _request(data: VerifyBody, client: RelyingParty, currency: str) -> VerifyRequest:
    """What the service decides on: a code, a transfer's signature (docs/protocol.md §6.1)
    or a response to the bank's challenge (§6.2); a plain code for a transfer is marked
    when this client's policy wants it signed."""
    transaction = data.transaction or {}
    if (data.code is UNSET) == (data.response is UNSET):
        raise _field_error(
            "code", "send the code the token shows, or a transfer's response: one of them"
        )
    transfer = None
    if data.response is UNSET and data.challenge is not UNSET:
        raise _field_error("challenge", "a challenge goes with the response the token gave to it")
    if data.response is not UNSET and data.purpose is Purpose.TRANSFER:
        if data.challenge is not UNSET:
            raise _field_error(
                "challenge", "a transfer is signed over its amount and payee, not a challenge"
            )
        try:
            transfer = transfer_of(transaction, currency)
        except TransactionRefused as exc:  # what no schema says: a 400 in words
            raise InvalidInput(f"this transfer cannot be signed: {exc}") from None
    elif data.response is not UNSET and data.challenge is UNSET:
        raise _field_error(
            "challenge", "a response to anything but a transfer answers the bank's challenge"
        )
    signing_required = (
        data.purpose is Purpose.TRANSFER
        and data.response is UNSET
        and (needs_signature(transaction, client.sign_transfers_above, currency))
    )
    return VerifyRequest(
        username=data.username,
        code=data.code or "",  # UNSET is false
        purpose=data.purpose.value,
        client=client.name,
        source=data.source or "",  # the end customer's address, as the bank sees it
        transaction=transaction,
        context=data.context or "",
        authenticated=data.authenticated,
        response=data.response or "",
        challenge=data.challenge or "",
        transfer=transfer,
        signing_required=signing_required,
    )


def _field_error(key: str, message: str) -> ValidationException:
    """A 400 naming the field, as msgspec's own are named (`_invalid`)."""
    return ValidationException(
        detail="Validation failed for POST /api/v1/verify",
        extra=[{"message": message, "key": key, "source": "body"}],
    )


def _invalid(problem: str) -> ValidationException:
    """The answer to a body that does not decode: the field and what is wrong with it, as
    Litestar words it. msgspec's words, except that a wrong `purpose` is not repeated (it
    may be anything, even a code typed in the wrong field)."""
    message, _, path = problem.partition(" - at `$.")
    if message.startswith("Invalid enum value"):
        message = f"Expected one of: {_PURPOSES}"
    return _field_error(path.rstrip("`"), message)


def _is_json(content_type: bytes | None) -> bool:
    """`application/json`, with parameters (`; charset=utf-8`) or a `+json` suffix; a body
    without a Content-Type is read as JSON too (what Litestar's handler did)."""
    if content_type is None:
        return True
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )

"""The HTTP transport, not the domain: errors for a request body the server will not read
(`server.app` answers them with the status each names, in the same body as domain errors:
`{status_code, detail}`), and where a request came from."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Request


class TransportError(Exception):
    """A request the HTTP layer refuses before any service sees it."""

    status_code: ClassVar[int] = 400


class TooLarge(TransportError):
    """A request body larger than the server accepts."""

    status_code = 413


class NotJson(TransportError):
    """A body whose Content-Type is not JSON, where only JSON is accepted."""

    status_code = 415


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the request came from ("" when the server cannot tell): the source
    that failure limits count against."""
    return request.client.host if request.client else ""

"""Errors of the HTTP transport, not of the domain: a request body the server will not
read. `server.app` answers them with the status each names, in the same body as domain
errors (`{status_code, detail}`)."""

from __future__ import annotations

from typing import ClassVar


class TransportError(Exception):
    """A request the HTTP layer refuses before any service sees it."""

    status_code: ClassVar[int] = 400


class TooLarge(TransportError):
    """A request body larger than the server accepts."""

    status_code = 413


class NotJson(TransportError):
    """A body whose Content-Type is not JSON, where only JSON is accepted."""

    status_code = 415

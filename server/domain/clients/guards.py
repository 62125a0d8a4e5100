"""The verify API's authentication: a relying party's API key as a Bearer token."""

from __future__ import annotations

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.errors import NotAuthenticated, ServiceUnavailable
from server.services import Services


async def require_client(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Authenticate before the body is read; the client lands in `connection.state.client`."""
    services: Services = connection.app.state.services
    header = connection.headers.get("authorization")
    if not header:
        raise NotAuthenticated("send the API key as 'Authorization: Bearer otpk_...'")

    recent = services.clients.authenticate_recent(header)
    if recent is not None:  # read moments ago: no database round trip, no thread hop
        connection.state.client = recent
        return

    def lookup() -> object:
        with services.db.reading() as connection:
            return services.clients.authenticate(connection, header)

    try:
        connection.state.client = await anyio.to_thread.run_sync(lookup)
    except NotAuthenticated:
        raise
    except Exception as exc:
        raise ServiceUnavailable("the database cannot be used now") from exc

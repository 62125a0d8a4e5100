"""The verify API's authentication: a relying party's API key as a Bearer token.

It runs as the route's before-request hook rather than as a Litestar guard: Litestar
copies the route handler object for every guard call, which cost a tenth of a verify
request's time on the event loop. The hook also runs before the body is read.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request

from server.errors import NotAuthenticated, ServiceUnavailable
from server.services import Services


async def require_client(connection: Request[Any, Any, Any]) -> None:
    """Authenticate before the body is read; the client lands in `connection.state.client`."""
    services: Services = connection.app.state.services
    header = connection.headers.get("authorization")
    # a missing or malformed header raises NotAuthenticated here, before any I/O
    recent = services.clients.authenticate_recent(header)
    if recent is not None:  # read moments ago: no database round trip, no thread hop
        connection.state.client = recent
        return

    def lookup() -> object:
        with services.db.reading() as reading:
            return services.clients.authenticate(reading, header)

    try:
        connection.state.client = await anyio.to_thread.run_sync(lookup)
    except NotAuthenticated:
        raise
    except Exception as exc:
        raise ServiceUnavailable("the database cannot be used now") from exc

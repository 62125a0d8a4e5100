"""The verify API's authentication: a relying party's API key as a Bearer token."""

from __future__ import annotations

import anyio.to_thread

from server.db.models import RelyingParty
from server.errors import NotAuthenticated, ServiceUnavailable
from server.services import Services


async def authenticate_client(services: Services, authorization: str | None) -> RelyingParty:
    """The client whose key is in the `Authorization` header, or NotAuthenticated.

    A key checked in the last moments needs neither the database nor a thread hop; a
    missing or malformed header fails before any I/O."""
    recent = services.clients.authenticate_recent(authorization)
    if recent is not None:
        return recent

    def lookup() -> RelyingParty:
        with services.db.reading() as reading:
            return services.clients.authenticate(reading, authorization)

    try:
        return await anyio.to_thread.run_sync(lookup)
    except NotAuthenticated:
        raise
    except Exception as exc:
        raise ServiceUnavailable("the database cannot be used now") from exc

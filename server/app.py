"""`create_app(settings)`: the Litestar application, built from explicit inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from hsm import Hsm
from server.domain.health.controllers import HealthController
from server.settings import Settings


def create_app(settings: Settings, *, hsm: Hsm | None = None) -> Litestar:
    """Build the application.

    Args:
        settings: the typed settings; nothing else is read from the environment.
        hsm: an `Hsm` to use instead of one built from `settings` (tests share one token).
    """
    owned = hsm is None
    the_hsm = hsm if hsm is not None else Hsm(settings.hsm_config())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                await the_hsm.run_async(the_hsm.close)

    return Litestar(
        route_handlers=[HealthController],
        state=State({"settings": settings, "hsm": the_hsm}),
        lifespan=[lifespan],
        logging_config=None,  # server.logging configures structured logs for the process
        openapi_config=OpenAPIConfig(title="HSM OTP server", version="0.1.0", path="/schema"),
    )

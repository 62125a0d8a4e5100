"""`/health/live`, `/health/ready` and `/metrics`."""

from __future__ import annotations

import hmac
from typing import Any

import anyio.to_thread
import structlog
from litestar import Controller, MediaType, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hsm import HsmError
from server.db.engine import database_problem
from server.di import AppServices
from server.domain.keys.rules import judge
from server.domain.operations.schemas import DatabaseReadiness, HsmReadiness, Readiness
from server.errors import NotAuthenticated
from server.services import Services

log = structlog.get_logger("server")


async def operator_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of `/metrics` and `/health/ready` when `OTP_METRICS_TOKEN` is set: the
    monitoring's bearer token, compared in constant time."""
    services: Services = connection.app.state.services
    expected = services.settings.metrics_token
    if expected is None:
        return
    given = connection.headers.get("authorization", "")
    scheme, _space, token = given.partition(" ")
    wanted = expected.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), wanted):
        raise NotAuthenticated("send the monitoring token: Authorization: Bearer <token>")


class HealthController(Controller):
    """Probes for the load balancer and the orchestrator."""

    path = "/health"
    tags = ("operations",)

    @get("/live", summary="The process answers")
    async def live(self) -> dict[str, str]:
        """Always `{"status": "ok"}` while the process serves requests."""
        return {"status": "ok"}

    @get(
        "/ready",
        guards=[operator_only],
        summary="The HSM and the database can be used",
        responses={
            HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
                data_container=Readiness,
                description=(
                    "Not ready; `hsm.reason` or `database.reason` says why "
                    "(`hsm.missing_guarantees`: ways a seed can leave the HSM)"
                ),
                examples=[
                    Example(
                        value={
                            "status": "unavailable",
                            "hsm": {"ok": False, "reason": "no token labelled 'otp-server' in ..."},
                        }
                    )
                ],
            )
        },
    )
    async def ready(self, services: AppServices) -> Response[Readiness]:
        """200 with the HSM's module, token and key versions; 503 with the reason otherwise."""
        hsm = services.hsm
        audited = True
        try:
            status = await hsm.run_async(hsm.status)
        except HsmError as exc:
            hsm_part = HsmReadiness(ok=False, reason=str(exc))
        else:
            verdict = judge(status)
            hsm_part = HsmReadiness(
                ok=not verdict.missing,
                reason=verdict.reason,
                module=status.module,
                token_label=status.token_label,
                manufacturer=status.manufacturer,
                key_versions=status.key_versions,
                missing_guarantees=verdict.missing,
                accepted_weaknesses=verdict.accepted,
            )
            if not verdict.missing and services.weakness_audit.pending(verdict):
                # ready on an accepted weakness only once it is on the audit trail
                try:
                    await anyio.to_thread.run_sync(services.weakness_audit.record, status, verdict)
                except SQLAlchemyError as exc:
                    audited = False
                    log.warning("hsm.weakness_not_audited", reason=database_problem(exc))
                except HsmError as exc:
                    hsm_part.ok = False
                    hsm_part.reason = f"the accepted HSM weakness could not be audited: {exc}"
        database = await anyio.to_thread.run_sync(_check_database, services)
        ok = hsm_part.ok and database.ok and audited
        return Response(
            Readiness("ready" if ok else "unavailable", hsm_part, database),
            status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
        )


def _check_database(services: Services) -> DatabaseReadiness:
    try:
        with services.db.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        return DatabaseReadiness(
            ok=False,
            reason=database_problem(exc),
        )
    return DatabaseReadiness(
        ok=True, dialect=services.db.engine.dialect.name, revision=str(revision)
    )


class MetricsController(Controller):
    """Prometheus scrape endpoint."""

    path = "/metrics"
    tags = ("operations",)

    @get("/", guards=[operator_only], summary="Prometheus metrics", media_type=MediaType.TEXT)
    async def metrics(self, services: AppServices) -> Response[bytes]:
        """Verifications by result and purpose, verify latency, HSM operations."""
        return Response(
            services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

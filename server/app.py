"""`create_app(settings)`: the Litestar application, built from explicit inputs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

import structlog
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, InternalServerException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Template
from sqlalchemy.exc import SQLAlchemyError

from hsm import Hsm, HsmError, HsmPort
from server.clock import Clock, system_clock
from server.db.engine import Database, database_problem
from server.domain.enrollment.controllers import EnrollmentController, TokenRequestsController
from server.domain.keys.rules import judge
from server.domain.operations.controllers import HealthController, MetricsController
from server.domain.verification.controllers import VerifyController
from server.errors import (
    AttemptsExhausted,
    Conflict,
    DomainError,
    EnrollmentEnded,
    InvalidInput,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
)
from server.mail import Mailer
from server.openapi import ClosedStructSchemaPlugin
from server.portal.setup import (
    add_security_headers,
    portal_error,
    portal_parts,
    security_headers,
)
from server.services import Services
from server.settings import Settings
from server.transport import TransportError

HTTP_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    EnrollmentEnded: 410,
    AttemptsExhausted: 429,
    ServiceUnavailable: 503,
}


def domain_error(request: Request, exc: DomainError | TransportError) -> Response:  # type: ignore[type-arg]
    """The one place where domain (and transport) errors become HTTP answers."""
    if isinstance(exc, TransportError):
        status = exc.status_code
    else:
        status = next((code for kind, code in HTTP_STATUS.items() if isinstance(exc, kind)), 400)
    headers = dict(request.app.state.security_headers)  # error answers skip after_request
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="otp"'
    if isinstance(exc, ServiceUnavailable | AttemptsExhausted) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(
        {"status_code": status, "detail": str(exc)}, status_code=status, headers=headers
    )


log = structlog.get_logger("server")


def _log_failure(request: Request, exc: Exception) -> None:  # type: ignore[type-arg]
    log.error(
        "request.failed",
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
        exc_info=exc,
    )


def unexpected_error(request: Request, exc: Exception) -> Response | Template:  # type: ignore[type-arg]
    """A bug or an unforeseen failure: logged with its traceback, never shown; the answer
    is a plain 500 (a page on the portal), with the security headers."""
    _log_failure(request, exc)
    return portal_error(request, InternalServerException())


def http_error(request: Request, exc: HTTPException) -> Response | Template:  # type: ignore[type-arg]
    """Litestar's HTTP errors. A 4xx is the caller's and is answered as it is; a 5xx (a
    template missing, a misconfiguration) is ours: logged like any failure, and answered
    with its status's plain name, never its text."""
    if exc.status_code >= 500:
        _log_failure(request, exc)
        try:
            plain = HTTPStatus(exc.status_code).phrase
        except ValueError:  # a status of nobody's list
            plain = "Internal Server Error"
        exc = HTTPException(detail=plain, status_code=exc.status_code, headers=exc.headers)
    return portal_error(request, exc)


def _services(state: State) -> Services:
    """What handlers get as `services`: the app's one `Services` (dependency injection)."""
    services: Services = state.services
    return services


async def _prove_at_start(services: Services) -> None:
    """Run the HSM's extraction proof once, log its verdict and audit the weaknesses the
    officer accepted (docs/hsm.md); /health/ready answers from the same proof, and audits
    them itself if the database could not be written here."""
    hsm = services.hsm
    try:
        status = await hsm.run_async(hsm.status)
    except HsmError as exc:
        log.warning("hsm.proof_postponed", reason=str(exc))  # /health/ready tries again
        return
    verdict = judge(status)
    if verdict.missing:
        log.error("hsm.guarantees_missing", guarantees=verdict.missing, reason=verdict.reason)
    elif verdict.accepted:
        log.warning("hsm.guarantees_accepted_missing", guarantees=verdict.accepted)
        try:
            await asyncio.to_thread(services.weakness_audit.record, status, verdict)
        except SQLAlchemyError as exc:
            log.warning("hsm.weakness_not_audited", reason=database_problem(exc))


def create_app(
    settings: Settings,
    *,
    hsm: HsmPort | None = None,
    clock: Clock = system_clock,
    db: Database | None = None,
    mailer: Mailer | None = None,
) -> Litestar:
    """Build the application.

    Args:
        settings: the typed settings; nothing else is read from the environment.
        hsm: an HSM to use instead of an `Hsm` built from `settings` (tests share one token).
        clock: the time source (tests pass one they control).
        db: a database to use instead of one built from `settings.database_url`.
        mailer: where e-mails go instead of the one `settings` describe.
    """
    owned = hsm is None
    if settings.hsm_so_pin_file is not None:
        log.warning("hsm.so_pin_ignored", reason="a server never reads the officer's PIN")
    if settings.portal_insecure_cookies:
        log.warning(
            "portal.insecure_cookies",
            reason="OTP_PORTAL_INSECURE_COOKIES: portal cookies without Secure and the "
            "__Host- prefix, no HSTS; for plain HTTP on loopback (make run), never in production",
        )
    the_hsm = hsm if hsm is not None else Hsm(settings.hsm_config())
    services = Services.build(settings, hsm=the_hsm, clock=clock, db=db, mailer=mailer)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # the extraction proof runs at start, not at the first probe (in the background:
        # an HSM that does not answer must not hold up the start)
        proving = asyncio.create_task(_prove_at_start(services))
        try:
            yield
        finally:
            proving.cancel()
            # batches under way finish with the HSM and the database they started with
            await asyncio.to_thread(services.verify_batcher.close)
            if owned:
                await the_hsm.run_async(the_hsm.close)
            services.db.dispose()

    portal = portal_parts(settings)
    headers = security_headers(settings)
    return Litestar(
        route_handlers=[
            HealthController,
            MetricsController,
            VerifyController,
            EnrollmentController,
            TokenRequestsController,
            *portal.route_handlers,
        ],
        template_config=portal.template_config,
        # not seen by POST /api/v1/verify, whose middleware answers it (VerifyEndpoint); the
        # same holds for any application-level middleware or after-request hook added here
        after_request=add_security_headers(headers),
        state=State({"settings": settings, "services": services, "security_headers": headers}),
        dependencies={"services": Provide(_services, sync_to_thread=False)},
        lifespan=[lifespan],
        exception_handlers={
            DomainError: domain_error,
            TransportError: domain_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
        request_max_body_size=settings.max_body_bytes,
        # ahead of Litestar's own struct plugin: request bodies are closed objects
        plugins=[ClosedStructSchemaPlugin()],
        logging_config=None,  # server.logging configures structured logs for the process
        openapi_config=OpenAPIConfig(
            title="HSM OTP server",
            version="0.1.0",
            path="/schema",
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A relying party's API key (otpk_...)",
                    ),
                    "customer": SecurityScheme(
                        type="http",
                        scheme="basic",
                        description="The customer's online-banking login",
                    ),
                }
            ),
        ),
    )

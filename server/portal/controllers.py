"""The portal's pages. Handlers are thin: services decide, templates show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlmodel import col, select

from server.db.models import Credential, CredentialStatus, Customer, Device
from server.di import AppServices
from server.domain.customers.rules import normalise_username
from server.domain.enrollment.device_id import group
from server.domain.sessions.rules import challenge_for
from server.domain.sessions.service import Current
from server.domain.verification.rules import Result, VerifyRequest
from server.errors import (
    AttemptsExhausted,
    Conflict,
    DomainError,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from server.portal.cookies import clear_session_cookie, session_cookie, set_session_cookie
from server.portal.operations import OPERATIONS
from server.portal.pages import (
    PORTAL_CLIENT,
    Form,
    approved_page,
    code_error,
    current_customer,
    current_login,
    current_session,
    minutes_to_wait,
    operation_challenge,
    operation_page,
    page,
    signed_here,
    to_login,
)
from server.portal.signing import signing_page
from server.services import Services
from server.transport import client_address


def active_device(services: Services, customer: Customer) -> str | None:
    """The device ID of the customer's active token (grouped), if any."""
    with services.db.reading() as connection:
        row = connection.execute(
            select(Device.device_id)
            .select_from(Credential)
            .join(Device, col(Device.id) == col(Credential.device_id), isouter=True)
            .where(Credential.customer_id == customer.id)
            .where(Credential.status == CredentialStatus.ACTIVE)
        ).first()
    if row is None:
        return None
    return group(row[0]) if row[0] else "—"


class PortalController(Controller):
    """Login, home, activation wizard and operations."""

    path = "/portal"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], services: AppServices) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        return page(request, "home.html", device=active_device(services, customer))

    # -- login -----------------------------------------------------------------------------

    @get("/login", sync_to_thread=False)
    def login_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "login.html", error=None, username="")

    @post("/login", sync_to_thread=True)
    def login(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        username = normalise_username(data.get("username", ""))[:150]
        password = data.get("password", "")[:200]
        try:
            customer = services.customers.authenticate(username, password, client_address(request))
        except AttemptsExhausted:
            return page(request, "login.html", 429, error="login.throttled", username=username)
        except DomainError:
            return page(request, "login.html", 401, error="login.wrong", username=username)
        needs_code = services.credentials.has_token(customer)
        opened = services.sessions.open(
            customer,
            authenticated=not needs_code,
            user_agent=request.headers.get("user-agent", ""),
            address=client_address(request),
            replacing=session_cookie(request, services.settings),
        )
        redirect = Redirect("/portal/login/code" if needs_code else "/portal/")
        set_session_cookie(redirect, services.settings, opened.cookie)
        return redirect

    @get("/login/code", sync_to_thread=True)
    def code_form(
        self, request: Request[Any, Any, Any], services: AppServices
    ) -> Template | Redirect:
        session = current_session(request)
        if session is None or session.authenticated:
            return to_login(request)
        return page(request, "code.html", error=None, challenge=_challenge(services, session))

    @post("/login/code", sync_to_thread=True)
    def code(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        session = current_session(request)  # one waiting longer than CODE_SECONDS ends
        if session is None or session.authenticated:
            return to_login(request)
        challenge = _challenge(services, session)
        typed = data.get("code", "").strip()[:10]
        if challenge and not typed.isdigit():  # a response is digits, or it is no request
            return page(request, "code.html", 401, error="code.wrong", challenge=challenge)
        outcome = services.verification.verify(
            VerifyRequest(
                username=session.customer.username,
                code="" if challenge else typed[:8],
                purpose="login",
                client=PORTAL_CLIENT,
                source=client_address(request),
                authenticated=True,  # after the password: its own budget (design §4)
                response=typed if challenge else "",
                challenge=challenge or "",
            )
        )
        if outcome.result is Result.ACCEPTED:
            # a new id for the finished login: the one seen before the code opens nothing
            renewed = services.sessions.authenticate(
                session_cookie(request, services.settings) or ""
            )
            if renewed is None:
                return to_login(request)
            redirect = Redirect("/portal/")
            set_session_cookie(redirect, services.settings, renewed.cookie)
            return redirect
        return page(
            request,
            "code.html",
            401,
            error=code_error(outcome.result),
            minutes=minutes_to_wait(outcome.retry_after),
            challenge=challenge,
        )

    @post("/logout", sync_to_thread=True)
    def logout(self, request: Request[Any, Any, Any], services: AppServices) -> Redirect:
        services.sessions.end(session_cookie(request, services.settings))
        redirect = Redirect("/portal/login")
        clear_session_cookie(redirect, services.settings)
        return redirect

    # -- active sessions -------------------------------------------------------------------

    @get("/sessions", sync_to_thread=True)
    def sessions(
        self, request: Request[Any, Any, Any], services: AppServices
    ) -> Template | Redirect:
        session = current_login(request)
        if session is None:
            return to_login(request)
        return _sessions_page(request, services, session)

    @post("/sessions/end", sync_to_thread=True)
    def end_session(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        session = current_login(request)
        if session is None:
            return to_login(request)
        try:
            services.sessions.end_other(session, data.get("session", "")[:40])
        except InvalidInput:
            return _sessions_page(request, services, session, 400, "sessions.bad")
        except Conflict:
            return _sessions_page(request, services, session, 409, "sessions.in_use")
        except NotFound:
            return _sessions_page(request, services, session, 404, "sessions.unknown")
        return Redirect("/portal/sessions")

    @post("/sessions/end-others", sync_to_thread=True)
    def end_other_sessions(
        self, request: Request[Any, Any, Any], services: AppServices
    ) -> Template | Redirect:
        session = current_login(request)
        if session is None:
            return to_login(request)
        services.sessions.end_others(session)
        return Redirect("/portal/sessions")

    # -- activation wizard -----------------------------------------------------------------

    @get("/activate", sync_to_thread=True)
    def activate_form(
        self, request: Request[Any, Any, Any], services: AppServices
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        return page(
            request,
            "activate.html",
            error=None,
            device_id="",
            kind="hardware",
            has_token=services.credentials.has_token(customer),
        )

    @post("/activate", sync_to_thread=True)
    def activate(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        kind = data.get("token_kind", "hardware")
        typed = data.get("device_id", "")[:40]
        try:
            issued = services.activation.create(
                customer,
                typed,
                kind,
                code=data.get("code", "").strip()[:8] or None,
                source=client_address(request),
            )
        except (InvalidInput, NotAllowed) as exc:
            # NotAllowed only comes for a customer who has a token (the code was refused)
            refused_code = isinstance(exc, NotAllowed)
            return page(
                request,
                "activate.html",
                403 if refused_code else 400,
                error="activate.code.bad" if refused_code else "activate.device_id.bad",
                device_id=typed,
                kind=kind,
                has_token=refused_code or services.credentials.has_token(customer),
            )
        return page(
            request,
            "activation.html",
            activation_id=issued.activation_id,
            code=group(issued.activation_code, 5),
            device_id=group(issued.device_id),
            seconds_left=int(issued.expires_at - services.clock()),
        )

    @get("/activate/{activation_id:str}/state", sync_to_thread=True)
    def activation_state(
        self, request: Request[Any, Any, Any], services: AppServices, activation_id: FromPath[str]
    ) -> Response[dict[str, str]]:
        customer = current_customer(request)
        if customer is None:
            return Response({"state": "logged_out"}, status_code=401)
        try:
            activation = services.activation.state(customer, activation_id)
        except DomainError:
            raise NotFoundException() from None
        return Response({"state": activation.status})

    # -- operations ------------------------------------------------------------------------

    @get("/operations", sync_to_thread=True)
    def operations(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if current_customer(request) is None:
            return to_login(request)
        return page(request, "operations.html", operations=list(OPERATIONS.values()))

    @get("/operations/{slug:str}", sync_to_thread=True)
    def operation_form(
        self, request: Request[Any, Any, Any], services: AppServices, slug: FromPath[str]
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        operation = OPERATIONS.get(slug)
        if operation is None:
            raise NotFoundException()
        return operation_page(request, operation, services.credentials.tokens(customer))

    @post("/operations/{slug:str}", sync_to_thread=True)
    def approve(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        slug: FromPath[str],
        data: Form,
    ) -> Template | Redirect:
        """An operation approved with a code; a transfer whose customer's token signs goes
        on to the page that says what to type on it (`server.portal.signing`)."""
        customer = current_customer(request)
        if customer is None:
            return to_login(request)
        operation = OPERATIONS.get(slug)
        if operation is None:
            raise NotFoundException()
        tokens = services.credentials.tokens(customer)
        details, refused = operation.read(data)
        if refused is not None:
            return operation_page(request, operation, tokens, data, refused, 400)
        if signed_here(operation, tokens.ability):
            return signing_page(request, services, operation, details)
        typed = data.get("code", "").strip()[:10]
        challenge = None
        if not tokens.gives_codes:
            challenge = operation_challenge(request, operation, data.get("challenge_nonce", ""))
            if challenge is None or not typed.isdigit():
                return operation_page(request, operation, tokens, details, status_code=400)
        outcome = services.verification.verify(
            VerifyRequest(
                username=customer.username,
                code="" if challenge else typed[:8],
                purpose=operation.purpose.value,
                client=PORTAL_CLIENT,
                source=client_address(request),
                transaction=details,
                authenticated=True,  # a logged-in customer: its own budget (design §4)
                response=typed if challenge else "",
                challenge=challenge.digits if challenge else "",
            )
        )
        if outcome.result is Result.ACCEPTED:
            return approved_page(request, operation, details)
        return page(
            request,
            "result.html",
            403,
            operation=operation,
            approved=False,
            error=code_error(outcome.result),
            minutes=minutes_to_wait(outcome.retry_after),
            details=details,
        )


def _challenge(services: Services, session: Current) -> str | None:
    """The challenge to show a customer whose tokens give no codes (imported OCRA ones:
    docs/protocol.md §6.2), or None: the login asks for a code."""
    if services.credentials.tokens(session.customer).gives_codes:
        return None
    return challenge_for(services.settings.session_key(), "login", session.public_id)


def _sessions_page(
    request: Request[Any, Any, Any],
    services: Services,
    session: Current,
    status_code: int = 200,
    error: str | None = None,
) -> Template:
    """The customer's open sessions, this one first, with `error` (a catalog key) if any."""
    listed = sorted(
        services.sessions.of_customer(session.customer, session), key=lambda view: not view.current
    )
    return page(
        request,
        "sessions.html",
        status_code,
        error=error,
        sessions=[
            {
                "id": view.public_id,
                "browser": view.user_agent,
                "address": view.client_address or "—",
                "since": _utc(view.created_at),
                "seen": _utc(view.last_seen_at),
                "current": view.current,
            }
            for view in listed
        ],
    )


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


@get("/", include_in_schema=False, sync_to_thread=False)
def root() -> Redirect:
    """The site's front page is the portal."""
    return Redirect("/portal/")

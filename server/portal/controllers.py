"""The portal's pages. Handlers are thin: services decide, templates show."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template
from sqlmodel import Session, col, select

from server.db.models import Credential, CredentialStatus, Customer, CustomerStatus, Device
from server.di import AppServices
from server.domain.customers.rules import normalise_username
from server.domain.enrollment.device_id import group
from server.domain.verification.rules import Result, VerifyRequest
from server.errors import AttemptsExhausted, DomainError, InvalidInput, NotAllowed
from server.portal.i18n import LANGUAGES, negotiate, translator
from server.portal.operations import OPERATIONS
from server.services import Services
from server.transport import client_address

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PORTAL_CLIENT = "portal"


def _services(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def language(request: Request[Any, Any, Any]) -> str:
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get("lang"),
        request.headers.get("accept-language"),
    )


def page(
    request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any
) -> Template:
    """Render `name` with the translator, the language and the logged-in customer."""
    lang = language(request)
    # an error page for a path no route matched went through no session middleware
    session: dict[str, Any] = request.session if "session" in request.scope else {}
    template = Template(
        template_name=name,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},  # pages with codes and balances
        context={
            "t": translator(lang),
            "lang": lang,
            "other_lang": LANGUAGES[1 - LANGUAGES.index(lang)],
            "path": request.url.path,
            "issuer": _services(request).settings.issuer,
            "customer_name": session.get("name") if session.get("customer_id") else None,
            **context,
        },
    )
    if request.query_params.get("lang") in LANGUAGES:
        template.cookies.append(
            Cookie(key="lang", value=lang, max_age=365 * 86400, samesite="lax", httponly=True)
        )
    return template


def current_customer(request: Request[Any, Any, Any]) -> Customer | None:
    """The logged-in customer, or None (idle or absolute session time-out ends it)."""
    session = request.session
    if not session.get("customer_id"):
        return None
    services = _services(request)
    now = services.clock()
    settings = services.settings
    if (
        now - session.get("seen_at", 0) > settings.portal_idle_seconds
        or now - session.get("auth_at", 0) > settings.portal_max_seconds
    ):
        request.clear_session()
        return None
    with services.db.reading() as connection, Session(connection) as db:
        customer = db.get(Customer, session["customer_id"])
    if customer is None or customer.status != CustomerStatus.ACTIVE:
        request.clear_session()
        return None
    request.set_session({**session, "seen_at": now})
    return customer


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
            return Redirect("/portal/login")
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
        now = services.clock()
        try:
            customer = services.customers.authenticate(username, password, client_address(request))
        except AttemptsExhausted:
            return page(request, "login.html", 429, error="login.throttled", username=username)
        except DomainError:
            return page(request, "login.html", 401, error="login.wrong", username=username)
        request.clear_session()
        fresh = {
            "name": customer.display_name,
            "username": customer.username,
            "auth_at": now,
            "seen_at": now,
            "nonce": secrets.token_hex(8),
        }
        if not services.credentials.has_token(customer):
            request.set_session({**fresh, "customer_id": customer.id})
            return Redirect("/portal/")
        request.set_session({**fresh, "pending_id": customer.id})
        return Redirect("/portal/login/code")

    @get("/login/code", sync_to_thread=False)
    def code_form(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if not request.session.get("pending_id"):
            return Redirect("/portal/login")
        return page(request, "code.html", error=None)

    @post("/login/code", sync_to_thread=True)
    def code(
        self, request: Request[Any, Any, Any], services: AppServices, data: Form
    ) -> Template | Redirect:
        session = request.session
        if not session.get("pending_id") or services.clock() - session.get("auth_at", 0) > 300:
            request.clear_session()
            return Redirect("/portal/login")
        outcome = services.verification.verify(
            VerifyRequest(
                username=session["username"],
                code=data.get("code", "").strip()[:8],
                purpose="login",
                client=PORTAL_CLIENT,
                source=client_address(request),
            )
        )
        if outcome.result is Result.ACCEPTED:
            now = services.clock()
            request.set_session(
                {
                    **{k: v for k, v in session.items() if k != "pending_id"},
                    "customer_id": session["pending_id"],
                    "auth_at": now,
                    "seen_at": now,
                }
            )
            return Redirect("/portal/")
        return page(
            request,
            "code.html",
            401,
            error=_code_error(outcome.result),
            minutes=max(1, (outcome.retry_after or 60) // 60),
        )

    @post("/logout", sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/portal/login")

    # -- activation wizard -----------------------------------------------------------------

    @get("/activate", sync_to_thread=True)
    def activate_form(
        self, request: Request[Any, Any, Any], services: AppServices
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return Redirect("/portal/login")
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
            return Redirect("/portal/login")
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
            return Redirect("/portal/login")
        return page(request, "operations.html", operations=list(OPERATIONS.values()))

    @get("/operations/{slug:str}", sync_to_thread=True)
    def operation_form(
        self, request: Request[Any, Any, Any], services: AppServices, slug: FromPath[str]
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return Redirect("/portal/login")
        operation = OPERATIONS.get(slug)
        if operation is None:
            raise NotFoundException()
        return page(
            request,
            "operation.html",
            operation=operation,
            values={},
            error=None,
            has_token=services.credentials.has_token(customer),
        )

    @post("/operations/{slug:str}", sync_to_thread=True)
    def approve(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        slug: FromPath[str],
        data: Form,
    ) -> Template | Redirect:
        customer = current_customer(request)
        if customer is None:
            return Redirect("/portal/login")
        operation = OPERATIONS.get(slug)
        if operation is None:
            raise NotFoundException()
        t = translator(language(request))
        details: dict[str, str] = {}
        for item in operation.fields:
            value = item.clean(data.get(item.name))
            if value is None:
                return page(
                    request,
                    "operation.html",
                    400,
                    operation=operation,
                    values=data,
                    has_token=True,
                    error=t("field.invalid", field=t(item.label)),
                )
            details[item.name] = value
        outcome = services.verification.verify(
            VerifyRequest(
                username=customer.username,
                code=data.get("code", "").strip()[:8],
                purpose=operation.purpose.value,
                client=PORTAL_CLIENT,
                source=client_address(request),
                transaction=details,
            )
        )
        if outcome.result is Result.ACCEPTED:
            reference = f"{slug[:3].upper()}-{secrets.token_hex(4).upper()}"
            return page(
                request,
                "result.html",
                operation=operation,
                approved=True,
                reference=reference,
                details=details,
            )
        return page(
            request,
            "result.html",
            403,
            operation=operation,
            approved=False,
            error=_code_error(outcome.result),
            minutes=max(1, (outcome.retry_after or 60) // 60),
            details=details,
        )


def _code_error(result: Result) -> str:
    return {
        Result.LOCKED: "code.locked",
        Result.RATE_LIMITED: "code.locked",
        Result.UNAVAILABLE: "code.unavailable",
    }.get(result, "code.wrong")


@get("/", include_in_schema=False, sync_to_thread=False)
def root() -> Redirect:
    """The site's front page is the portal."""
    return Redirect("/portal/")

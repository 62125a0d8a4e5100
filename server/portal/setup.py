"""Everything the portal adds to the app: routes, templates, static files, encrypted
cookie sessions, CSRF protection and security headers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, ControllerRouterHandler

from server.portal.controllers import PortalController, language, page, root
from server.portal.i18n import translator
from server.settings import Settings

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class PortalParts:
    route_handlers: list[ControllerRouterHandler]
    template_config: TemplateConfig[Any]


def portal_parts(settings: Settings) -> PortalParts:
    """Build the portal's pieces from the settings. Sessions and CSRF protection wrap the
    portal's pages only: the APIs, probes and metrics never pass through them."""
    key = settings.session_key()
    sessions = CookieBackendConfig(
        secret=key,
        key="otp_session",
        max_age=settings.portal_max_seconds,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    csrf = CSRFConfig(
        secret=hmac.new(key, b"csrf", hashlib.sha256).hexdigest(),
        cookie_name="otp_csrf",
        cookie_secure=settings.cookie_secure,
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    session_layer = sessions.middleware
    csrf_layer = DefineMiddleware(CSRFMiddleware, config=csrf)

    def sessions_and_csrf(app: ASGIApp) -> ASGIApp:
        # one function, not the two definitions: Litestar deep-copies a router's
        # middleware list, and the session backend's cipher cannot be copied
        return session_layer(csrf_layer(app))

    pages = Router(path="/", route_handlers=[PortalController], middleware=[sessions_and_csrf])
    return PortalParts(
        route_handlers=[
            pages,
            root,
            create_static_files_router(
                path="/static", directories=[HERE / "static"], include_in_schema=False
            ),
        ],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
    )


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every response gets; HSTS too when the site is served over TLS."""
    headers = dict(SECURITY_HEADERS)
    if settings.cookie_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def add_security_headers(
    headers: dict[str, str],
) -> Callable[[Response[Any]], Awaitable[Response[Any]]]:
    """An after-request hook putting `headers` on every response (pages, JSON, files).

    A coroutine: Litestar runs a plain function hook in a worker thread, one thread hop
    per response."""

    async def hook(response: Response[Any]) -> Response[Any]:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    return hook


def portal_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any] | Template:
    """Portal errors as pages (a refused CSRF token says to reload); others as JSON."""
    if not request.url.path.startswith("/portal"):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
        if exc.extra:
            body["extra"] = exc.extra
        headers = {**request.app.state.security_headers, **(exc.headers or {})}
        return Response(body, status_code=exc.status_code, headers=headers)
    message = exc.detail
    if isinstance(exc, PermissionDeniedException) and "CSRF" in (exc.detail or ""):
        message = translator(language(request))("csrf.refused")
    template: Template = page(
        request, "error.html", exc.status_code, message=message, code=exc.status_code
    )
    # error responses skip after_request
    template.headers.update(request.app.state.security_headers)
    return template

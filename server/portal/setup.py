"""Everything the portal adds to the app: routes, templates, static files, CSRF protection
and security headers. Sessions are the server's (`server.domain.sessions`): the cookie
names a row of the database, so every process sees a session end at once."""

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
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from server.portal.controllers import PortalController, root
from server.portal.cookies import CSRF, cookie_name
from server.portal.i18n import translator
from server.portal.pages import language, page
from server.portal.signing import TransferSigningController
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
    """Build the portal's pieces from the settings. CSRF protection wraps the portal's
    pages only: the APIs, probes and metrics never pass through it."""
    key = settings.session_key()
    csrf = CSRFConfig(
        secret=hmac.new(key, b"csrf", hashlib.sha256).hexdigest(),
        cookie_name=cookie_name(settings, CSRF),
        cookie_path="/",
        cookie_secure=not settings.portal_insecure_cookies,
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    pages = Router(
        path="/",
        route_handlers=[PortalController, TransferSigningController],
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
    )
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
    if not settings.portal_insecure_cookies:
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

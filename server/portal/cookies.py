"""The portal's cookies: names and attributes. By default the session and CSRF cookies are
`Secure` and carry the `__Host-` prefix (Path=/, no Domain: the browser then refuses them
from plain HTTP and from any other host); `portal_insecure_cookies` drops both for
`make run` on plain HTTP."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from server.settings import Settings

SESSION = "otp_session"
CSRF = "otp_csrf"


def cookie_name(settings: Settings, name: str) -> str:
    """`name` with the `__Host-` prefix, unless cookies are insecure by setting."""
    return name if settings.portal_insecure_cookies else f"__Host-{name}"


def session_cookie(request: Request[Any, Any, Any], settings: Settings) -> str | None:
    """The session id the browser sent, if any."""
    return request.cookies.get(cookie_name(settings, SESSION))


def set_session_cookie(response: Response[Any], settings: Settings, value: str) -> None:
    """Give the browser its session id (HttpOnly, SameSite=Lax, Secure by default)."""
    response.set_cookie(
        cookie_name(settings, SESSION),
        value,
        max_age=settings.portal_max_seconds,
        path="/",
        secure=not settings.portal_insecure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response[Any], settings: Settings) -> None:
    """Make the browser forget its session id (with the same attributes: a browser ignores
    a `__Host-` cookie set without `Secure`, even one that deletes)."""
    response.set_cookie(
        cookie_name(settings, SESSION),
        "",
        max_age=0,
        expires=0,
        path="/",
        secure=not settings.portal_insecure_cookies,
        httponly=True,
        samesite="lax",
    )

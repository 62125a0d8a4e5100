"""What every portal page needs: the language, the page itself (a template with the
translator and the customer), the session the request's cookie names, and the messages
of a refused code."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from server.db.models import Customer
from server.domain.credentials.rules import CustomerTokens, TokenAbility
from server.domain.sessions.rules import challenge_for
from server.domain.sessions.service import Current
from server.domain.verification.purposes import Purpose
from server.domain.verification.rules import Result
from server.portal.cookies import clear_session_cookie, session_cookie
from server.portal.i18n import LANGUAGES, amount, negotiate, translator
from server.portal.operations import MAX_AMOUNT, Field, Operation
from server.services import Services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_CENTS = int(MAX_AMOUNT * 100)
PORTAL_CLIENT = "portal"
"""The client name the portal's verifications are audited under (`client:portal`)."""


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The app's services."""
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
    # only what a handler already read: an error page looks nothing up
    session: Current | None = request.state.get(_SESSION)
    template = Template(
        template_name=name,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},  # pages with codes and balances
        context={
            "t": translator(lang),
            "lang": lang,
            "other_lang": LANGUAGES[1 - LANGUAGES.index(lang)],
            "path": request.url.path,
            "issuer": services_of(request).settings.issuer,
            "customer_name": (
                session.customer.display_name if session and session.authenticated else None
            ),
            **context,
        },
    )
    if request.query_params.get("lang") in LANGUAGES:
        template.cookies.append(
            Cookie(key="lang", value=lang, max_age=365 * 86400, samesite="lax", httponly=True)
        )
    return template


_SESSION = "portal_session"
"""Where a request keeps the session its cookie names, once read."""


def current_session(request: Request[Any, Any, Any]) -> Current | None:
    """The open session the request's cookie names (a finished login or one waiting for
    its code), or None. Read once per request; a session over its time ends here."""
    if _SESSION not in request.state:
        services = services_of(request)
        cookie = session_cookie(request, services.settings)
        request.state[_SESSION] = services.sessions.current(cookie)
    found: Current | None = request.state[_SESSION]
    return found


def current_login(request: Request[Any, Any, Any]) -> Current | None:
    """The session of a finished login, or None (no session, or its code is still due)."""
    session = current_session(request)
    return session if session is not None and session.authenticated else None


def current_customer(request: Request[Any, Any, Any]) -> Customer | None:
    """The logged-in customer, or None (no session, or its login is not finished)."""
    session = current_login(request)
    return session.customer if session is not None else None


def to_login(request: Request[Any, Any, Any]) -> Redirect:
    """To the login page; a browser that sent a session id no longer valid forgets it."""
    redirect = Redirect("/portal/login")
    settings = services_of(request).settings
    if session_cookie(request, settings) is not None and current_session(request) is None:
        clear_session_cookie(redirect, settings)
    return redirect


def approved_page(
    request: Request[Any, Any, Any],
    operation: Operation,
    details: Mapping[str, str],
    **extra: Any,
) -> Template:
    """The result of an approved operation: a new reference and what was approved."""
    return page(
        request,
        "result.html",
        operation=operation,
        approved=True,
        reference=operation.new_reference(),
        details=details,
        **extra,
    )


def code_error(result: Result) -> str:
    """The catalog key of a code's refusal (it takes `minutes` when locked)."""
    return {
        Result.LOCKED: "code.locked",
        Result.RATE_LIMITED: "code.locked",
        Result.UNAVAILABLE: "code.unavailable",
    }.get(result, "code.wrong")


def minutes_to_wait(retry_after: int | None) -> int:
    """Whole minutes, at least one, of a refusal's `retry_after` seconds."""
    return max(1, (retry_after or 60) // 60)


@dataclass(frozen=True)
class Challenge:
    """What an operation's form shows a customer whose token gives no codes: 8 digits to
    type on it, made from the session, the operation and `nonce` (which the form posts
    back, so that the answer is checked against the same digits)."""

    nonce: str
    digits: str


_NONCE = re.compile(r"[0-9a-f]{16}")


def operation_challenge(
    request: Request[Any, Any, Any], operation: Operation, nonce: str | None = None
) -> Challenge | None:
    """The challenge of `operation`'s form for this session, for a customer whose tokens
    give no codes (a new nonce unless one is given), or None: no session, or the nonce
    posted is none of ours. Each form shows new digits; a response is accepted once
    (docs/protocol.md §6.2)."""
    session = current_session(request)
    if session is None:
        return None
    if nonce is None:
        nonce = secrets.token_hex(8)
    elif _NONCE.fullmatch(nonce) is None:
        return None
    key = services_of(request).settings.session_key()
    digits = challenge_for(key, "operation", session.public_id, operation.slug, nonce)
    return Challenge(nonce, digits)


def operation_page(
    request: Request[Any, Any, Any],
    operation: Operation,
    tokens: CustomerTokens,
    values: Mapping[str, str] | None = None,
    refused: Field | None = None,
    status_code: int = 200,
) -> Template:
    """An operation's form, filled with `values`, saying why `refused` was refused. A
    transfer's form says whether the token signs it or a code approves it; the form of a
    customer whose token gives no codes shows a challenge to answer instead."""
    error = None
    if refused is not None:
        lang = language(request)
        t = translator(lang)
        raw = (values or {}).get(refused.name)
        error = t(refused.refusal(raw), field=t(refused.label), maximum=amount(MAX_CENTS, lang))
    signs = signed_here(operation, tokens.ability)
    challenged = not (signs or tokens.gives_codes or tokens.ability is TokenAbility.NONE)
    return page(
        request,
        "operation.html",
        status_code,
        operation=operation,
        values=values or {},
        error=error,
        has_token=tokens.ability is not TokenAbility.NONE,
        signs=signs,
        challenge=operation_challenge(request, operation) if challenged else None,
    )


def signed_here(operation: Operation, ability: TokenAbility) -> bool:
    """Whether the portal asks for a signature rather than a code: a transfer, by a
    customer whose token signs (it then never takes a plain code for one)."""
    return operation.purpose is Purpose.TRANSFER and ability is TokenAbility.SIGNS

"""The portal sessions' rules: pure functions and value types, no I/O and no clock (`now`
is given). The service (`service.py`) reads, applies these and writes (`store.py`);
docs/design.md §10 says how the parts fit.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

CODE_SECONDS = 300
"""How long a login that passed the password may wait for the token's code."""

_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, base64url without padding
_PUBLIC_ID = re.compile(r"ses_[0-9a-f]{16}")


class EndReason(enum.StrEnum):
    """Why a session ended (stored with it)."""

    LOGOUT = "logout"
    IDLE = "idle"
    EXPIRED = "expired"
    """The absolute limit after the login."""
    CODE_TIMEOUT = "code_timeout"
    """The login passed the password and no code came in time."""
    NEW_LOGIN = "new_login"
    """The browser logged in again over it."""
    CUSTOMER_INACTIVE = "customer_inactive"
    ENDED_BY_CUSTOMER = "ended_by_customer"
    """From another of the customer's sessions ("active sessions")."""
    ENDED_BY_OFFICER = "ended_by_officer"
    DEVICE_REVOKED = "device_revoked"
    CREDENTIAL_REVOKED = "credential_revoked"


@dataclass(frozen=True)
class SessionPolicy:
    """The limits every session is held to, from the settings of the same names."""

    idle_seconds: int
    """Without a request for this long, the session ends."""
    max_seconds: int
    """This long after the login, the session ends however busy it is."""


@dataclass(frozen=True)
class SessionTimes:
    """When a session began, finished its login (None: waiting for the code) and was used."""

    created_at: float
    authenticated_at: float | None
    last_seen_at: float


def why_over(times: SessionTimes, now: float, policy: SessionPolicy) -> EndReason | None:
    """The reason a session still open is over at `now`, or None while it may be used."""
    if times.authenticated_at is None:
        return EndReason.CODE_TIMEOUT if now - times.created_at > CODE_SECONDS else None
    if now - times.authenticated_at > policy.max_seconds:
        return EndReason.EXPIRED
    if now - times.last_seen_at > policy.idle_seconds:
        return EndReason.IDLE
    return None


def cookie_well_formed(value: str) -> bool:
    """True when `value` has the shape of a session cookie (a token the server made)."""
    return _COOKIE.fullmatch(value) is not None


def public_id_well_formed(value: str) -> bool:
    """True when `value` has the shape of a session's public id (`ses_` and 16 hex)."""
    return _PUBLIC_ID.fullmatch(value) is not None


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_summary(header: str) -> str:
    """What a customer recognises of a browser's User-Agent ("Chrome · Linux", in no
    language): the browser and the system, never the whole header (the sender's free
    text)."""
    browser = next((name for mark, name in _BROWSERS if mark in header), "")
    system = next((name for mark, name in _SYSTEMS if mark in header), "")
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or "—"


CHALLENGE_DIGITS = 8


def challenge_for(key: bytes, *context: str) -> str:
    """The 8 digits shown to a customer whose token gives no codes, to type on it (docs/
    protocol.md §6.2), for `context`: a pending login ("login", its session id), or an
    operation ("operation", the session id, the operation, a nonce of the form's). The
    same context gives the same digits on every server; nobody without the portal's key
    can tell which digits a context gives."""
    message = "\x00".join(("challenge", *context)).encode()
    mac = hmac.new(key, message, hashlib.sha256)
    value = int.from_bytes(mac.digest()[:8], "big") % 10**CHALLENGE_DIGITS
    return f"{value:0{CHALLENGE_DIGITS}d}"

"""The portal sessions' pure rules: when a session is over, the shapes of ids, and what is
kept of a User-Agent; and the limits come from the settings of the same names."""

from __future__ import annotations

from dataclasses import fields

import pytest

from server.domain.sessions.rules import (
    CODE_SECONDS,
    EndReason,
    SessionPolicy,
    SessionTimes,
    cookie_well_formed,
    public_id_well_formed,
    user_agent_summary,
    why_over,
)
from server.services import SESSION_SETTINGS, session_policy_of
from server.settings import Settings

POLICY = SessionPolicy(idle_seconds=900, max_seconds=8 * 3600)


@pytest.mark.parametrize(
    ("times", "now", "reason"),
    [
        (SessionTimes(0, 0, 0), 900, None),
        (SessionTimes(0, 0, 0), 901, EndReason.IDLE),
        (SessionTimes(0, 0, 28_000), 28_800, None),
        (SessionTimes(0, 0, 28_800), 28_801, EndReason.EXPIRED),
        (SessionTimes(0, 0, 0), 100_000, EndReason.EXPIRED),  # the absolute limit first
        (SessionTimes(0, None, 0), CODE_SECONDS, None),
        (SessionTimes(0, None, 0), CODE_SECONDS + 1, EndReason.CODE_TIMEOUT),
        (SessionTimes(0, 200, 200), 1000, None),  # the limits count from the login
    ],
)
def test_when_a_session_is_over(times: SessionTimes, now: float, reason: EndReason | None) -> None:
    assert why_over(times, now, POLICY) is reason


def test_the_shapes_of_ids() -> None:
    assert cookie_well_formed("A" * 43) and cookie_well_formed("a-_" * 14 + "x")
    for bad in ("", "A" * 42, "A" * 44, "A" * 42 + "=", "A" * 42 + "\n", "A" * 42 + "é"):
        assert not cookie_well_formed(bad), bad
    assert public_id_well_formed("ses_0123456789abcdef")
    for bad in ("ses_0123456789ABCDEF", "ses_0123", "0123456789abcdef", "ses_0123456789abcdef0"):
        assert not public_id_well_formed(bad), bad


@pytest.mark.parametrize(
    ("header", "summary"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome · Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Safari · iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            "Edge · Windows",
        ),
        ("Mozilla/5.0 (Linux; Android 14) Firefox/121.0", "Firefox · Android"),
        ("python-httpx/0.27.0", "—"),
        ("", "—"),
        ("<script>alert(1)</script>" * 100, "—"),
    ],
)
def test_what_is_kept_of_a_user_agent(header: str, summary: str) -> None:
    assert user_agent_summary(header) == summary


def test_every_session_policy_field_is_set_from_its_setting() -> None:
    assert set(SESSION_SETTINGS) == {f.name for f in fields(SessionPolicy)}
    defaults = Settings()
    assert (defaults.portal_idle_seconds, defaults.portal_max_seconds) == (900, 8 * 3600)
    changed = {name: getattr(defaults, name) + 7 for name in SESSION_SETTINGS.values()}
    policy = session_policy_of(Settings(**changed))  # type: ignore[arg-type]
    for field, name in SESSION_SETTINGS.items():
        assert getattr(policy, field) == changed[name], field


def test_secure_cookies_are_the_default() -> None:
    assert Settings().portal_insecure_cookies is False

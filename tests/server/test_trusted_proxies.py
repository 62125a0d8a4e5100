"""Who the client is: `X-Forwarded-For` only from a trusted proxy (OTP_TRUSTED_PROXIES).

Played as the attacker of issue 20: from the server's own host (loopback, which uvicorn
trusts by default), each wrong password sent with a new `X-Forwarded-For` counted against a
new "client", so the login throttle never held. Over HTTP against a server process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from hsm import Hsm
from server.app import create_app
from server.settings import Settings, SettingsError
from tests.conftest import SoftHsmTokens
from tests.server.conftest import fast_settings
from tests.server.processes import server_env, server_process

pytestmark = pytest.mark.slow  # server processes: `make test` runs it, a plain `pytest` not

FAILURES = 3  # the login throttle per (username, client) in these servers


@contextmanager
def _bank(
    tokens: SoftHsmTokens, hsm: Hsm, database_url: str, trusted: str
) -> Iterator[httpx.Client]:
    services = create_app(fast_settings(database_url), hsm=hsm).state.services
    with services.db.transaction() as session:
        services.customers.add(session, "ana", "ana@example.com", "clave-de-ana", "Ana")
    services.db.dispose()
    env = {
        **server_env(tokens, database_url),
        "OTP_PORTAL_LOGIN_FAILURES": str(FAILURES),
        "OTP_TRUSTED_PROXIES": trusted,
        "OTP_PORTAL_INSECURE_COOKIES": "true",  # plain HTTP: the CSRF cookie must come back
    }
    with server_process(env) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def _login(client: httpx.Client, password: str, forwarded_for: str) -> int:
    page = client.get("/portal/login").text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token, page[:300]
    answer = client.post(
        "/portal/login",
        data={"username": "ana", "password": password, "_csrf_token": token.group(1)},
        headers={"X-Forwarded-For": forwarded_for},
        follow_redirects=False,
    )
    return answer.status_code


def test_a_caller_that_is_no_proxy_cannot_choose_its_address(
    tokens: SoftHsmTokens, hsm: Hsm, database_url: str
) -> None:
    with _bank(tokens, hsm, database_url, trusted="") as client:
        for n in range(FAILURES):
            assert _login(client, "wrong", f"203.0.113.{n}") == 401
        # a new X-Forwarded-For does not make a new client: the throttle holds
        assert _login(client, "wrong", "203.0.113.99") == 429
        assert _login(client, "clave-de-ana", "198.51.100.7") == 429


def test_a_trusted_proxy_names_the_client_and_the_throttle_is_per_client(
    tokens: SoftHsmTokens, hsm: Hsm, database_url: str
) -> None:
    with _bank(tokens, hsm, database_url, trusted="127.0.0.0/8") as client:
        for _ in range(FAILURES):
            assert _login(client, "wrong", "203.0.113.5") == 401
        assert _login(client, "wrong", "203.0.113.5") == 429  # that client is throttled
        # the customer, from another address behind the same proxy, still gets in
        assert _login(client, "clave-de-ana", "198.51.100.7") == 302  # to the code page
        # a client cannot hide behind addresses it prepends: the proxy's entry counts
        assert _login(client, "wrong", "198.51.100.7, 203.0.113.5") == 429


def test_trusted_proxies_must_be_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTP_TRUSTED_PROXIES", "10.0.0.0/8, lb.example")
    with pytest.raises(SettingsError, match=r"OTP_TRUSTED_PROXIES: .*'lb\.example' is not"):
        Settings.from_environment()
    monkeypatch.setenv("OTP_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,2001:db8::/32")
    settings = Settings.from_environment()
    assert settings.forwarded_allow_ips() == "10.0.0.0/8,192.0.2.1/32,2001:db8::/32"
    monkeypatch.delenv("OTP_TRUSTED_PROXIES")
    assert Settings().forwarded_allow_ips() is None

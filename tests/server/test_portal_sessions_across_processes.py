"""Two server processes on one PostgreSQL share the portal's sessions: a login on one is
a login on both, and a logout (or an end) on one is refused by the other at once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.portal.visitor import Visitor
from tests.server.conftest import fast_settings
from tests.server.processes import PostgresCluster, server_env, server_process

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not


@pytest.fixture
def two_servers(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster
) -> Iterator[tuple[str, str, Services]]:
    url = postgres.create_database(f"sessions_{secrets.token_hex(4)}")
    upgrade(url)
    key = secrets.token_hex(32)  # one CSRF key behind one load balancer
    services: Services = create_app(fast_settings(url, session_secret=key), hsm=hsm).state.services
    env = {
        **server_env(tokens, url),
        "OTP_SESSION_SECRET": key,
        "OTP_PORTAL_INSECURE_COOKIES": "true",  # plain HTTP on loopback
    }
    with server_process(env) as first, server_process(env) as second:
        yield first, second, services
    services.db.dispose()


def _customer(services: Services) -> tuple[str, str]:
    username, password = f"pg{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with services.db.transaction() as session:
        services.customers.add(session, username, f"{username}@example.com", password, "Pía")
    return username, password


def test_a_session_opened_on_one_process_is_ended_on_both(
    two_servers: tuple[str, str, Services],
) -> None:
    first, second, services = two_servers
    username, password = _customer(services)
    on_first = Visitor(first)
    on_first.log_in(username, password)
    # the same browser, sent to the other process by the load balancer
    on_second = Visitor(second, on_first.copy_of_cookies())
    assert on_second.opens_portal()
    assert "Esta sesión" in on_second.http.get("/portal/sessions").text
    copy_on_first = Visitor(first, on_first.copy_of_cookies())

    on_second.log_out()
    assert not copy_on_first.opens_portal()
    assert not Visitor(second, on_first.copy_of_cookies()).opens_portal()


def test_ending_another_session_on_one_process_is_seen_by_the_other(
    two_servers: tuple[str, str, Services],
) -> None:
    first, second, services = two_servers
    username, password = _customer(services)
    laptop, phone = Visitor(first), Visitor(second)
    laptop.log_in(username, password)
    phone.log_in(username, password)
    phone_on_first = Visitor(first, phone.copy_of_cookies())
    assert phone_on_first.opens_portal()

    ended = laptop.post("/portal/sessions/end-others", page="/portal/sessions")
    assert (ended.status_code, ended.headers["location"]) == (302, "/portal/sessions")
    assert not phone.opens_portal()
    assert not phone_on_first.opens_portal()
    assert Visitor(second, laptop.copy_of_cookies()).opens_portal()

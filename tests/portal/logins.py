"""A customer's login through the in-process portal (the `bank` fixture's client)."""

from __future__ import annotations

from tests.portal.visitor import csrf_of
from tests.server.conftest import Bank, Customer


def password_step(bank: Bank, customer: Customer) -> None:
    """Username and password: the portal asks for the code next."""
    token = csrf_of(bank.client.get("/portal/login").text)
    answer = bank.client.post(
        "/portal/login",
        follow_redirects=False,
        data={"username": customer.username, "password": customer.password, "_csrf_token": token},
    )
    assert answer.headers["location"] == "/portal/login/code"


def code_step(bank: Bank, customer: Customer) -> None:
    """The token's current code: the portal's home next."""
    token = csrf_of(bank.client.get("/portal/login/code").text)
    code = customer.code(bank.clock())
    bank.secrets_used.add(code)
    done = bank.client.post(
        "/portal/login/code", follow_redirects=False, data={"code": code, "_csrf_token": token}
    )
    assert done.headers["location"] == "/portal/"

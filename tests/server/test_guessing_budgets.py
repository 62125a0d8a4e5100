"""Guessing budgets instead of lock-outs (docs/design.md §4), played as issue 20's attacker.

Before: five wrong codes locked the credential, the lock doubled and never decayed, and the
customer's right code got `423`: about five requests an hour from anyone who knew the
username kept the customer out for good, while 145-210 guesses a day were still evaluated.
Now every credential has a token bucket per pool, the clock is the test's.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections import Counter

import httpx
import pyotp
import pytest
from sqlmodel import select

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.db.models import AuditEvent
from server.domain.credentials.rules import SeedImport
from server.domain.verification import store
from server.domain.verification.purposes import Purpose
from server.domain.verification.rules import YEAR, GuessBudget, guess_budget, success_per_year
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.server.conftest import Bank, Customer, fast_settings, make_client_key
from tests.server.processes import PostgresCluster, server_env, server_process

DEVICE = "device-cookie-of-anas-laptop-7f3a9c"  # the bank's name for the customer's device


def _wrong(customer: Customer, bank: Bank) -> str:
    return "000000" if customer.code(bank.clock()) != "000000" else "111111"


def _attack(bank: Bank, customer: Customer, seconds: float, **how: object) -> Counter[str]:
    """Wrong codes as fast as the rule lets them be evaluated, for `seconds` of the test's
    clock: after each `locked`, wait what it says. The audit trail's reasons, counted."""
    end = bank.clock() + seconds
    while bank.clock() < end:
        status, body = bank.verify(customer.username, _wrong(customer, bank), **how)
        if status == 423:
            bank.clock.advance(body["retry_after"])
        else:
            assert status == 403, body
    return Counter(_reasons(bank, customer.username))


def _reasons(bank: Bank, username: str) -> list[str]:
    with bank.services.db.transaction() as session:
        return list(
            session.exec(
                select(AuditEvent.reason).where(
                    AuditEvent.subject == username, AuditEvent.action == "verify"
                )
            ).all()
        )


def test_wrong_codes_without_the_password_never_keep_the_customer_out(bank: Bank) -> None:
    ana = bank.add_customer()
    wrong = _wrong(ana, bank)
    logins = 0
    for hour in range(0, 24, 3):  # a day: the attacker never stops, Ana logs in 8 times
        for _ in range(10):
            bank.verify(ana.username, wrong)  # no password checked, no context
        assert bank.verify(ana.username, wrong)[1]["result"] == "locked"
        # Ana at the bank's login page: password checked, then her code
        status, body = bank.verify(ana.username, ana.code(bank.clock()), authenticated=True)
        assert (status, body["result"]) == (200, "accepted"), (hour, body)
        logins += 1
        bank.clock.advance(3 * 3600)
    assert logins == 8


def test_her_own_device_lets_her_in_while_an_attacker_with_her_password_guesses(
    bank: Bank,
) -> None:
    ana = bank.add_customer()
    assert (
        bank.verify(ana.username, ana.code(bank.clock()), authenticated=True, context=DEVICE)[1][
            "result"
        ]
        == "accepted"
    )
    bank.clock.advance(120)
    wrong = _wrong(ana, bank)
    for how in ({"authenticated": True}, {}, {"context": "the-attackers-own-browser-01"}):
        answers = [bank.verify(ana.username, wrong, **how)[1]["result"] for _ in range(8)]
        assert answers[-1] == "locked", how  # every pool the attacker can reach is spent
    status, body = bank.verify(ana.username, ana.code(bank.clock()), authenticated=True,
                               context=DEVICE)  # fmt: skip
    assert (status, body["result"]) == (200, "accepted")


def test_a_context_is_hers_only_after_she_got_in_from_it(bank: Bank) -> None:
    ana = bank.add_customer()
    wrong = _wrong(ana, bank)
    for _ in range(6):  # the attacker names a context nobody has succeeded from
        bank.verify(ana.username, wrong, context="made-up-context-by-attacker-42")
    status, body = bank.verify(
        ana.username, ana.code(bank.clock()), context="made-up-context-by-attacker-42"
    )
    assert (status, body["result"]) == (423, "locked")  # it was the anonymous pool all along


@pytest.mark.parametrize("authenticated", [False, True])
def test_a_month_of_the_fastest_attack_evaluates_what_the_budget_allows(
    bank: Bank, authenticated: bool
) -> None:
    ana = bank.add_customer()
    days = 30
    reasons = _attack(bank, ana, days * 86400, authenticated=authenticated)
    evaluated = reasons["wrong_code"] + reasons["wrong_code_locked"]  # the HSM checked these
    budget = guess_budget("totp", 6, bank.services.verification.policy)
    allowed = budget.capacity + budget.per_second * days * 86400
    assert allowed - 2 <= evaluated <= allowed + 1
    # after the burst, every guess is the last whole one: each is followed by a wait
    assert reasons["wrong_code_locked"] >= evaluated - budget.capacity
    # both pools at this pace for a year: within the 1 % goal
    trickled = (evaluated - budget.capacity) * YEAR / (days * 86400)
    a_year = 2 * (budget.capacity + trickled)
    assert success_per_year("totp", 6, bank.services.verification.policy, a_year) <= 0.0101


def test_the_budget_comes_back_evenly(bank: Bank) -> None:
    ana = bank.add_customer()
    budget = guess_budget("totp", 6, bank.services.verification.policy)
    wrong = _wrong(ana, bank)
    answers = [bank.verify(ana.username, wrong)[1] for _ in range(int(budget.capacity))]
    assert [a["result"] for a in answers] == ["rejected"] * 4 + ["locked"]
    hours = answers[-1]["retry_after"] / 3600
    assert hours == pytest.approx(1 / budget.per_second / 3600, abs=0.01)
    assert 5.2 < hours < 5.4  # about one guess every 5 h 17 min
    bank.clock.advance(math.ceil(1 / budget.per_second))
    assert bank.verify(ana.username, ana.code(bank.clock()))[1]["result"] == "accepted"


@pytest.mark.slow
def test_two_processes_on_postgres_share_one_budget(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster
) -> None:
    """Alternating between two servers gives the attacker no second budget."""
    url = postgres.create_database(f"otp_{secrets.token_hex(4)}")
    upgrade(url)
    services: Services = create_app(fast_settings(url), hsm=hsm).state.services
    key = make_client_key(services, f"rp-{secrets.token_hex(3)}", [Purpose.LOGIN])
    seed = secrets.token_bytes(20)
    with services.db.transaction() as session:
        customer = services.customers.add(session, "ana.pg", "ana@example.com", "a password 1")
        services.credentials.import_seed(session, customer, SeedImport(seed=seed), "test")
    services.db.dispose()
    totp = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
    env = server_env(tokens, url)
    with server_process(env) as first, server_process(env) as second:
        for base in (first, second):
            assert httpx.get(f"{base}/health/ready").status_code == 200

        def verify(base: str, code: str) -> str:
            answer = httpx.post(
                f"{base}/api/v1/verify",
                headers={"Authorization": f"Bearer {key}"},
                json={"username": "ana.pg", "code": code, "purpose": "login"},
                timeout=30,
            )
            return str(answer.json()["result"])

        wrong = "000000" if totp.now() != "000000" else "111111"
        answers = [verify((first, second)[i % 2], wrong) for i in range(8)]
        assert answers == ["rejected"] * 4 + ["locked"] * 4
        assert verify(first, totp.now()) == verify(second, totp.now()) == "locked"


@pytest.mark.parametrize("on", ["sqlite", "postgresql"])
def test_a_batch_decided_a_moment_earlier_spends_exactly_one_guess(
    on: str, bank: Bank, postgres_services: Services
) -> None:
    """Two servers' batches commit in any order: one prepared at 999.0 may spend after one
    prepared at 1000.0. It takes one guess, not one and the refill of a negative time (a
    bucket of 5 then locked after 4 wrong guesses, not 5), and leaves the bucket's time
    where the later one put it."""
    services = bank.services if on == "sqlite" else postgres_services
    budget = GuessBudget(5.0, 1 / 3600)
    with services.db.engine.begin() as connection:
        assert store.spend(connection, "u:race:anonymous", budget, 1000.0) == 4.0
        assert store.spend(connection, "u:race:anonymous", budget, 999.0) == 3.0
        later = store.spend(connection, "u:race:anonymous", budget, 1000.5)
    assert later == pytest.approx(2.0 + 0.5 / 3600)

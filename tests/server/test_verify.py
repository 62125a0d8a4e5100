"""The verify contract through the HTTP API, with an injected clock."""

from __future__ import annotations

import json
import math

import pytest
from sqlmodel import select

from hsm import Algorithm
from server.db.models import CredentialKind, GuessBudgets
from server.domain.verification.purposes import Purpose
from server.domain.verification.rules import guess_budget
from server.portal.setup import security_headers
from tests.oracles import oathtool_hotp, oathtool_totp
from tests.server.conftest import Bank, JsonLines, make_client_key


def test_current_code_is_accepted_once(bank: Bank) -> None:
    alice = bank.add_customer()
    code = alice.code(bank.clock())
    assert code == oathtool_totp(alice.seed, "SHA1", 6, 60, int(bank.clock()))
    status, body = bank.verify(alice.username, code)
    assert (status, body["result"]) == (200, "accepted")
    assert body["credential_id"] == alice.credential_id
    status, body = bank.verify(alice.username, code)
    assert (status, body["result"]) == (403, "rejected")


def test_each_decision_is_logged_once_without_the_code(bank: Bank, json_logs: JsonLines) -> None:
    alice = bank.add_customer()
    code = alice.code(bank.clock())
    first = len(json_logs.lines)
    bank.verify(alice.username, code)
    bank.verify(alice.username, code)
    decisions = [json.loads(line) for line in json_logs.lines[first:] if "verify.decision" in line]
    assert [(d["result"], d["reason"], d["level"]) for d in decisions] == [
        ("accepted", "accepted", "info"),
        ("rejected", "replay", "info"),
    ]
    assert all(d["username"] == alice.username and d["purpose"] == "login" for d in decisions)
    assert not any(code in json.dumps(d) for d in decisions)


def test_unknown_user_and_wrong_code_look_the_same(bank: Bank) -> None:
    alice = bank.add_customer()
    wrong = f"{(int(alice.code(bank.clock())) + 1) % 1_000_000:06d}"
    status_wrong, wrong_body = bank.verify(alice.username, wrong)
    status_unknown, unknown_body = bank.verify("nobody-here", "123456")
    assert status_wrong == status_unknown == 403
    assert wrong_body == unknown_body


@pytest.mark.settings(guess_burst=3)
def test_an_unknown_user_is_locked_out_like_a_customer(bank: Bank) -> None:
    """Wrong codes for a username nobody has answer exactly like wrong codes for a
    customer: the same budget, the same `locked` and the same wait, and the next guess
    after it alike too."""
    alice = bank.add_customer()
    wrong = "000000" if alice.code(bank.clock()) != "000000" else "111111"
    wait = _wait_for_one_guess(bank)

    def answers(username: str) -> list[tuple[int, dict[str, object]]]:
        seen = [bank.verify(username, wrong) for _ in range(3)]
        seen.append(bank.verify(username, wrong))  # while locked
        bank.clock.advance(wait)
        seen.append(bank.verify(username, wrong))  # one guess came back, and went
        return seen

    start = bank.clock.now
    customer = answers(alice.username)
    bank.clock.now = start
    stranger = answers("Nobody-Here ")
    assert [status for status, _ in customer] == [403, 403, 423, 423, 423]
    assert customer[2][1]["retry_after"] == math.ceil(wait)
    assert stranger == customer
    with bank.services.db.transaction() as session:
        keys = [r.key for r in session.exec(select(GuessBudgets)).all()]
    assert "u:nobody-here:anonymous" in keys


def test_budgets_untouched_for_long_are_forgotten(bank: Bank) -> None:
    service = bank.services.verification
    retention = service.policy.unknown_user_retention_seconds
    bank.verify("gone-soon", "123456")
    bank.clock.advance(retention + 3601)
    bank.verify("tried-now", "123456")
    with bank.services.db.transaction() as session:
        keys = [r.key for r in session.exec(select(GuessBudgets)).all()]
    assert keys == ["u:tried-now:anonymous"]


def _wait_for_one_guess(bank: Bank) -> float:
    """Seconds a 6-digit TOTP budget takes to give one guess back."""
    budget = guess_budget("totp", 6, bank.services.verification.policy)
    return 1 / budget.per_second


@pytest.mark.parametrize(
    ("offset", "result"),
    [(-2, "rejected"), (-1, "accepted"), (0, "accepted"), (1, "accepted"), (2, "rejected")],
)
def test_window_is_one_step_each_side(bank: Bank, offset: int, result: str) -> None:
    alice = bank.add_customer()
    _, body = bank.verify(alice.username, alice.code(bank.clock() + offset * 60))
    assert body["result"] == result


def test_window_edges_inside_a_step(bank: Bank) -> None:
    alice = bank.add_customer()
    bank.clock.advance(59.9)  # last moment of the step: the next step's code is in the window
    assert bank.verify(alice.username, alice.code(bank.clock() + 60))[1]["result"] == "accepted"


def test_drift_is_learned_and_followed(bank: Bank) -> None:
    alice = bank.add_customer()
    # the token's clock runs one step ahead
    assert bank.verify(alice.username, alice.code(bank.clock() + 60))[1]["result"] == "accepted"
    assert bank.credential(alice.credential_id).drift == 1
    bank.clock.advance(60)
    # now a code two steps ahead of the server is inside the window centred on the drift
    assert bank.verify(alice.username, alice.code(bank.clock() + 120))[1]["result"] == "accepted"
    assert bank.credential(alice.credential_id).drift == 2


def test_an_older_code_after_a_newer_one_is_rejected(bank: Bank) -> None:
    alice = bank.add_customer()
    assert bank.verify(alice.username, alice.code(bank.clock() + 60))[1]["result"] == "accepted"
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "rejected"


@pytest.mark.settings(guess_burst=3)
def test_a_spent_budget_refuses_even_the_right_code_until_a_guess_comes_back(
    bank: Bank,
) -> None:
    alice = bank.add_customer()
    wrong = "000000" if alice.code(bank.clock()) != "000000" else "111111"
    wait = _wait_for_one_guess(bank)
    answers = [bank.verify(alice.username, wrong) for _ in range(3)]
    assert [body["result"] for _, body in answers] == ["rejected", "rejected", "locked"]
    status, body = answers[-1]
    assert (status, body["retry_after"]) == (423, math.ceil(wait))
    # the right code is not even looked at while the budget is spent
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "locked"
    bank.clock.advance(wait - 1)
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "locked"
    bank.clock.advance(1)
    status, body = bank.verify(alice.username, alice.code(bank.clock()))
    assert (status, body["result"]) == (200, "accepted")


@pytest.mark.settings(guess_burst=2)
def test_officer_unlock_lifts_the_lock(bank: Bank) -> None:
    alice = bank.add_customer()
    for _ in range(2):
        bank.verify(alice.username, "999999" if alice.code(bank.clock()) != "999999" else "1")
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "locked"
    with bank.services.db.transaction() as session:
        bank.services.credentials.unlock(session, alice.credential_id, "officer:test")
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "accepted"


def test_resync_from_two_consecutive_codes(bank: Bank) -> None:
    alice = bank.add_customer()
    ahead = bank.clock() + 37 * 60  # the token's clock is 37 minutes fast
    assert bank.verify(alice.username, alice.code(ahead))[1]["result"] == "rejected"
    with bank.services.db.transaction() as session:
        credential = bank.services.credentials.resync(
            session, alice.credential_id, alice.code(ahead), alice.code(ahead + 60), "test"
        )
    assert credential.drift == 38
    bank.clock.advance(120)
    assert bank.verify(alice.username, alice.code(ahead + 120))[1]["result"] == "accepted"


def test_resync_refuses_codes_that_are_not_consecutive(bank: Bank) -> None:
    from server.errors import InvalidInput

    alice = bank.add_customer()
    with (
        pytest.raises(InvalidInput, match="not consecutive"),
        bank.services.db.transaction() as session,
    ):
        bank.services.credentials.resync(
            session,
            alice.credential_id,
            alice.code(bank.clock()),
            alice.code(bank.clock() + 120),
            "test",
        )


def test_revoked_credential_is_rejected(bank: Bank) -> None:
    alice = bank.add_customer()
    with bank.services.db.transaction() as session:
        bank.services.credentials.revoke(session, alice.credential_id, "officer:test")
    status, body = bank.verify(alice.username, alice.code(bank.clock()))
    assert (status, body["result"]) == (403, "rejected")


def test_hotp_with_look_ahead(bank: Bank) -> None:
    token = bank.add_customer(kind=CredentialKind.HOTP, counter=0)
    seed = token.seed
    assert bank.verify(token.username, oathtool_hotp(seed, 6, 0))[1]["result"] == "accepted"
    assert bank.verify(token.username, oathtool_hotp(seed, 6, 0))[1]["result"] == "rejected"
    assert bank.verify(token.username, oathtool_hotp(seed, 6, 4))[1]["result"] == "accepted"
    assert bank.verify(token.username, oathtool_hotp(seed, 6, 2))[1]["result"] == "rejected"
    assert bank.verify(token.username, oathtool_hotp(seed, 6, 30))[1]["result"] == "rejected"
    assert bank.credential(token.credential_id).last_step == 4


@pytest.mark.parametrize(("algorithm", "digits"), [(Algorithm.SHA256, 8), (Algorithm.SHA512, 6)])
def test_other_algorithms_and_lengths(bank: Bank, algorithm: Algorithm, digits: int) -> None:
    bob = bank.add_customer(algorithm=algorithm, digits=digits, period=30)
    code = oathtool_totp(bob.seed, algorithm.value, digits, 30, int(bank.clock()))
    assert bank.verify(bob.username, code)[1]["result"] == "accepted"


def test_transaction_and_purpose_reach_the_audit_without_the_code(bank: Bank) -> None:
    from sqlmodel import select

    from server.db.models import AuditEvent

    alice = bank.add_customer()
    code = alice.code(bank.clock())
    status, body = bank.verify(
        alice.username,
        code,
        "transfer",
        transaction={"amount": "1500.00", "to": "ES12 3456"},
        source="203.0.113.9",
    )
    assert (status, body["purpose"]) == (200, "transfer")
    with bank.services.db.transaction() as session:
        event = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "verify")
            .where(AuditEvent.subject == alice.username)
        ).one()
    assert (event.purpose, event.result, event.source) == ("transfer", "accepted", "203.0.113.9")
    assert '"amount":"1500.00"' in event.details
    assert code not in event.details + event.reason + event.actor


def test_wrong_and_unknown_api_keys(bank: Bank) -> None:
    body = {"username": "x", "code": "123456", "purpose": "login"}
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer otpk_0123456789abcdef_" + "A" * 43},
        {"Authorization": bank.headers()["Authorization"][:-1] + "x"},
    ):
        response = bank.client.post("/api/v1/verify", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "API key" in response.json()["detail"]


def test_purpose_not_allowed_for_that_client(bank: Bank) -> None:
    key = make_client_key(bank.services, "statements-only", [Purpose.STATEMENT])
    alice = bank.add_customer()
    response = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(key),
        json={"username": alice.username, "code": alice.code(bank.clock()), "purpose": "transfer"},
    )
    assert response.status_code == 403
    assert "may not verify codes for 'transfer'" in response.json()["detail"]
    response = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(key),
        json={"username": alice.username, "code": alice.code(bank.clock()), "purpose": "statement"},
    )
    assert response.json()["result"] == "accepted"


@pytest.mark.settings(source_failure_limit=3, source_window_seconds=60)
def test_failures_are_rate_limited_per_source(bank: Bank) -> None:
    alice = bank.add_customer()
    for i in range(3):
        assert bank.verify(f"guess{i}", "123456", source="198.51.100.7")[0] == 403
    limited = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(),
        json={
            "username": alice.username,
            "code": alice.code(bank.clock()),
            "purpose": "login",
            "source": "198.51.100.7",
        },
    )
    assert (limited.status_code, limited.json()["result"]) == (429, "rate_limited")
    assert limited.json()["retry_after"] == 60
    assert limited.headers["retry-after"] == "60"
    # another source is not affected
    assert (
        bank.verify(alice.username, alice.code(bank.clock()), source="198.51.100.8")[1]["result"]
        == "accepted"
    )
    bank.clock.advance(60)
    assert (
        bank.verify(alice.username, alice.code(bank.clock()), source="198.51.100.7")[1]["result"]
        == "accepted"
    )


def test_metrics_count_decisions(bank: Bank) -> None:
    alice = bank.add_customer()
    bank.verify(alice.username, alice.code(bank.clock()), "statement")
    bank.verify("nobody", "123456", "statement")
    text = bank.client.get("/metrics").text
    assert 'otp_verifications_total{purpose="statement",result="accepted"} 1.0' in text
    assert 'otp_verifications_total{purpose="statement",result="rejected"} 1.0' in text
    assert "otp_verify_seconds_count 2.0" in text  # each decision's latency, once
    assert 'otp_hsm_operations_total{operation="find_code",outcome="ok"}' in text


def test_openapi_documents_the_verify_api(bank: Bank) -> None:
    schema = bank.client.get("/schema/openapi.json").json()
    operation = schema["paths"]["/api/v1/verify"]["post"]
    assert {"200", "400", "401", "403", "413", "415", "423", "429", "503"} <= set(
        operation["responses"]
    )
    error = operation["responses"]["415"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][error.rsplit("/", 1)[1]]["properties"]) == {
        "status_code",
        "detail",
    }
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["allOf"][0]["$ref"].endswith("/VerifyBody")
    assert {"code", "response", "challenge"} == {
        field
        for example in body["examples"]
        for field in example
        if field in ("code", "response", "challenge")
    }
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/VerifyAnswer"
    )
    fields = schema["components"]["schemas"]["VerifyBody"]
    assert {"username", "purpose"} <= set(fields["required"])
    assert {"code", "response", "transaction"} <= set(fields["properties"])
    assert fields["properties"]["code"]["pattern"] == "^[0-9]{6,8}$"
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


@pytest.mark.settings(guess_burst=2)
def test_answers_carry_json_and_security_headers_and_retry_after(bank: Bank) -> None:
    alice = bank.add_customer()
    wrong = "000000" if alice.code(bank.clock()) != "000000" else "111111"
    request = {"username": alice.username, "code": wrong, "purpose": "login"}
    rejected = bank.client.post("/api/v1/verify", headers=bank.headers(), json=request)
    assert (rejected.status_code, rejected.json()["result"]) == (403, "rejected")
    assert "retry-after" not in rejected.headers
    locked = bank.client.post("/api/v1/verify", headers=bank.headers(), json=request)
    assert (locked.status_code, locked.json()["result"]) == (423, "locked")
    wait = _wait_for_one_guess(bank)
    assert locked.headers["retry-after"] == str(math.ceil(wait))
    bank.clock.advance(wait)
    good = {**request, "code": alice.code(bank.clock())}
    accepted = bank.client.post("/api/v1/verify", headers=bank.headers(), json=good)
    assert accepted.json()["result"] == "accepted"
    expected = security_headers(bank.services.settings)
    assert len(expected) >= 4
    for answer in (rejected, locked, accepted):
        assert answer.headers["content-type"] == "application/json"
        assert {name: answer.headers.get(name) for name in expected} == expected
        assert int(answer.headers["content-length"]) == len(answer.content)


def test_a_recently_used_key_is_still_checked_in_full(bank: Bank) -> None:
    alice = bank.add_customer()
    assert bank.verify(alice.username, alice.code(bank.clock()))[0] == 200  # key now cached
    tampered = bank.api_key[:-1] + ("A" if bank.api_key[-1] != "A" else "B")
    response = bank.client.post(
        "/api/v1/verify",
        headers={"Authorization": f"Bearer {tampered}"},
        json={"username": alice.username, "code": "123456", "purpose": "login"},
    )
    assert response.status_code == 401


def test_a_lock_written_after_the_read_still_stops_the_acceptance(bank: Bank) -> None:
    """A parallel wrong guess may lock the credential while a good code is being checked."""
    from sqlalchemy import text

    from server.domain.verification.rules import Result, VerifyRequest

    alice = bank.add_customer()
    service = bank.services.verification
    code = alice.code(bank.clock())
    bank.secrets_used.add(code)
    # the read and the HSM's look (prepare), then the parallel guess's lock, then the write
    prepared = service.prepare([VerifyRequest(alice.username, code, "login", "netbank")])
    with bank.services.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE credentials SET locked_until = :t"), {"t": prepared.now + 60}
        )
    [outcome] = service.commit(prepared)
    assert outcome.result is not Result.ACCEPTED

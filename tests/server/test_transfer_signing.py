"""`purpose: transfer` with a `response`: a code bound to the amount and the payee
(docs/protocol.md §6). The responses are python-oath's (`Signer.sign`), computed from the
protocol's rule in the test, never by the product. Each attack is played: the response of
one transfer sent with another amount or payee (a real-time phishing page relaying it), the
same response twice, a plain code where the bank wants a signature, guessing."""

from __future__ import annotations

import json
import random
import secrets
import time

import pytest
from sqlmodel import select

from hsm import Algorithm
from server.db.models import AuditEvent, SignatureUse
from server.domain.credentials.rules import SeedImport
from server.domain.verification.rules import VerifyRequest
from server.domain.verification.transfers import SUITE, Transfer
from server.services import Services
from tests.oracles import oath_ocra
from tests.server.conftest import START, Bank, make_client_key

PAYEE = "ES91 2100 0418 4502 0005 4321"


def _events(bank: Bank, username: str) -> list[AuditEvent]:
    with bank.services.db.transaction() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.subject == username)
                .where(AuditEvent.action == "verify")
                .order_by(AuditEvent.seq)  # type: ignore[arg-type]
            ).all()
        )


def test_a_signed_transfer_is_accepted_once_and_audited_exactly(bank: Bank) -> None:
    signer = bank.add_signer()
    response = signer.sign("1250.00", PAYEE, bank.clock())

    status, body = bank.verify_transfer(signer.username, response, "1250.00", PAYEE)
    assert (status, body["result"]) == (200, "accepted")
    assert body["credential_id"] == signer.credential_id

    # the same response again: a replay, whatever the relying party thinks it sends
    status, body = bank.verify_transfer(signer.username, response, "1250.00", PAYEE)
    assert (status, body["result"]) == (403, "rejected")
    assert "reason" not in body  # why a signature fails is the audit's, not the caller's

    accepted, replayed = _events(bank, signer.username)
    assert (accepted.result, accepted.reason, accepted.purpose) == (
        "accepted",
        "accepted",
        "transfer",
    )
    assert (replayed.result, replayed.reason) == ("rejected", "replay")
    details = json.loads(accepted.details)
    assert details["transaction"] == {"amount": "1250.00", "currency": "EUR", "payee": PAYEE}
    assert details["signed"] == {  # what the customer typed on the token
        "amount": "1250.00",
        "currency": "EUR",
        "payee_reference": "00054321",
        "question": "00000012500000054321",
    }


@pytest.mark.parametrize(
    ("amount", "payee"),
    [
        ("1250.01", PAYEE),  # one cent more
        ("125.00", PAYEE),  # the same digits, another amount
        ("1250.00", "ES91 2100 0418 4502 0005 4322"),  # another payee
        ("1250.00", "ES12 0049 1500 0512 3456 4321"),  # same last 4, other last 8
    ],
)
def test_a_response_for_another_transfer_is_refused(bank: Bank, amount: str, payee: str) -> None:
    """The phishing relay: the customer signed 1,250.00 to ...0005 4321, the attacker
    sends that response with its own transfer."""
    signer = bank.add_signer()
    response = signer.sign("1250.00", PAYEE, bank.clock())
    status, body = bank.verify_transfer(signer.username, response, amount, payee)
    assert (status, body["result"]) == (403, "rejected")
    # and the customer's own transfer still goes through with it
    status, body = bank.verify_transfer(signer.username, response, "1250.00", PAYEE)
    assert (status, body["result"]) == (200, "accepted")


def test_two_transfers_in_one_minute_each_count_once(bank: Bank) -> None:
    signer = bank.add_signer()
    now = bank.clock()
    first = signer.sign("10.00", PAYEE, now)
    second = signer.sign("20.00", PAYEE, now)
    assert bank.verify_transfer(signer.username, first, "10.00", PAYEE)[0] == 200
    assert bank.verify_transfer(signer.username, second, "20.00", PAYEE)[0] == 200
    assert bank.verify_transfer(signer.username, second, "20.00", PAYEE)[0] == 403


@pytest.mark.parametrize(("offset", "status"), [(-120, 403), (-60, 200), (60, 200), (120, 403)])
def test_the_window_is_one_step_each_side(bank: Bank, offset: int, status: int) -> None:
    signer = bank.add_signer()
    response = signer.sign("99.99", PAYEE, bank.clock() + offset)
    assert bank.verify_transfer(signer.username, response, "99.99", PAYEE)[0] == status


def test_the_window_follows_the_drift_the_codes_taught(bank: Bank) -> None:
    """A token whose clock runs two minutes ahead: its codes taught the server so (one
    step at a time), and its signatures are looked for there too."""
    signer = bank.add_signer()
    now = bank.clock()
    assert bank.verify(signer.username, signer.code(now + 60))[0] == 200
    bank.clock.advance(60)
    assert bank.verify(signer.username, signer.code(bank.clock() + 120))[0] == 200
    assert bank.credential(signer.credential_id).drift == 2
    response = signer.sign("5.00", PAYEE, bank.clock() + 120 + 60)
    assert bank.verify_transfer(signer.username, response, "5.00", PAYEE)[0] == 200


def test_random_transfers_against_python_oath(bank: Bank) -> None:
    """Random amounts and payees: the response python-oath computes is accepted, and the
    next cent's is refused for this transfer."""
    rng = random.Random(6287)
    signer = bank.add_signer()
    for _ in range(25):
        cents = rng.randint(1, 10**12 - 1)
        amount = f"{cents // 100}.{cents % 100:02d}"
        payee = f"ES{rng.randint(10, 99)} {rng.randrange(10**20):020d}"
        response = signer.sign(amount, payee, bank.clock())
        question = f"{cents:012d}{payee[-8:]}"
        assert response == oath_ocra(SUITE, signer.ocra_seed, question, time_step=int(START // 60))
        assert bank.verify_transfer(signer.username, response, amount, payee)[0] == 200


def test_wrong_responses_spend_the_guessing_budget(bank: Bank) -> None:
    signer = bank.add_signer()
    right = signer.sign("300.00", PAYEE, bank.clock())
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    answers = [bank.verify_transfer(signer.username, wrong, "300.00", PAYEE) for _ in range(5)]
    assert [status for status, _ in answers] == [403] * 4 + [423]
    status, body = bank.verify_transfer(signer.username, right, "300.00", PAYEE)
    assert (status, body["result"]) == (423, "locked")
    # the budget is the credential's: a plain code is locked out too
    assert bank.verify(signer.username, signer.code(bank.clock()))[0] == 423


def test_who_cannot_sign_is_answered_like_an_unknown_user(bank: Bank) -> None:
    plain = bank.add_customer()  # a TOTP credential without an OCRA seed
    status, body = bank.verify_transfer(plain.username, "12345678", "1.00", PAYEE)
    assert (status, body["result"]) == (403, "rejected")
    unknown = bank.verify_transfer("nobody-here", "12345678", "1.00", PAYEE)
    assert unknown == (status, body)
    assert _events(bank, plain.username)[0].reason == "no_signing_seed"


def _answers_after_five_wrong_codes(bank: Bank, username: str) -> list[int]:
    """The attacker without the password: five wrong plain codes, then wrong responses."""
    codes = [bank.verify(username, "000000", purpose="transfer")[0] for _ in range(5)]
    return codes + [bank.verify_transfer(username, "00000000", "1.00", PAYEE)[0] for _ in range(2)]


def test_mixing_codes_and_responses_does_not_tell_who_can_sign(bank: Bank) -> None:
    """Wrong codes and wrong responses spend one budget for everybody: a customer whose
    token cannot sign is locked out by the same mix as one whose can, and as an unknown
    username, so the answers never tell them apart."""
    plain, signer = bank.add_customer(), bank.add_signer()
    answers = {
        "cannot sign": _answers_after_five_wrong_codes(bank, plain.username),
        "signs": _answers_after_five_wrong_codes(bank, signer.username),
        "unknown": _answers_after_five_wrong_codes(bank, "nobody-here"),
    }
    assert answers["cannot sign"] == answers["signs"] == answers["unknown"]
    assert answers["signs"] == [403] * 4 + [423] * 3


def test_who_cannot_sign_costs_the_hsm_what_a_signer_costs(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time tells what answers do not: a request does the HSM work of one signature
    window, and none once the budget is spent, whoever the username is."""
    hsm = bank.services.verification._hsm
    real = hsm.find_ocra_responses
    windows: list[int] = []

    def counted(jobs: list[object]) -> object:
        windows.append(len(jobs))
        return real(jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(hsm, "find_ocra_responses", counted)
    work = {}
    for name, username in (
        ("cannot sign", bank.add_customer().username),
        ("signs", bank.add_signer().username),
        ("unknown", "nobody-at-all"),
    ):
        windows.clear()
        for _ in range(7):  # five wrong guesses spend the budget, two are refused unheard
            bank.verify_transfer(username, "00000000", "1.00", PAYEE)
        work[name] = list(windows)
    assert work["cannot sign"] == work["signs"] == work["unknown"] == [1] * 5


def test_the_seed_of_the_codes_does_not_sign(bank: Bank) -> None:
    """A response computed with the TOTP seed (what a token might do if it mixed its
    seeds up) is refused: signing has a seed of its own."""
    signer = bank.add_signer()
    question = "000000125000" + PAYEE[-9:].replace(" ", "")
    response = oath_ocra(SUITE, signer.seed, question, time_step=int(START // 60))
    assert bank.verify_transfer(signer.username, response, "1250.00", PAYEE)[0] == 403


@pytest.mark.parametrize(
    ("transaction", "words"),
    [
        ({"amount": 1250, "currency": "EUR", "payee": PAYEE}, "binary float"),
        ({"amount": "1.00", "currency": True, "payee": PAYEE}, "currency is a string"),
        ({"amount": 12.5, "currency": "EUR", "payee": PAYEE}, "string"),
        ({"amount": "1,250.00", "currency": "EUR", "payee": PAYEE}, "digits"),
        ({"amount": "1.001", "currency": "EUR", "payee": PAYEE}, "2 decimals"),
        ({"amount": "1250.0000000000000000000000001", "currency": "EUR", "payee": PAYEE}, "2 dec"),
        ({"amount": "0", "currency": "EUR", "payee": PAYEE}, "more than 0"),
        ({"amount": "1.00", "currency": "USD", "payee": PAYEE}, "signed in EUR"),
        ({"amount": "1.00", "payee": PAYEE}, "transaction.currency"),
        ({"amount": "1.00", "currency": "EUR", "payee": "GB29 NWBK 6016 13"}, "8"),
        ({"amount": "1.00", "currency": "EUR"}, "transaction.payee"),
    ],
)
def test_a_transfer_that_cannot_be_signed_is_a_bad_request(
    bank: Bank, transaction: dict[str, object], words: str
) -> None:
    signer = bank.add_signer()
    answer = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(),
        json={
            "username": signer.username,
            "purpose": "transfer",
            "response": "12345678",
            "transaction": transaction,
        },
    )
    assert answer.status_code == 400
    assert "cannot be signed" in answer.json()["detail"] and words in answer.json()["detail"]
    assert _events(bank, signer.username) == []  # no decision, nothing spent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "login", "response": "12345678"}, "challenge"),  # it answers one
        ({"purpose": "transfer", "response": "12345678", "code": "123456"}, "code"),
        ({"purpose": "transfer"}, "code"),
        ({"purpose": "transfer", "response": "1234"}, "response"),
        ({"purpose": "transfer", "response": "12345678901"}, "response"),
        ({"purpose": "login", "code": "123456", "challenge": "12345678"}, "challenge"),
        ({"purpose": "transfer", "response": "12345678", "challenge": "12345678"}, "challenge"),
        ({"purpose": "login", "response": "12345678", "challenge": "1234567"}, "challenge"),
        ({"purpose": "login", "response": "12345678", "challenge": "1234abcd"}, "challenge"),
    ],
)
def test_code_or_response_one_of_them(bank: Bank, body: dict[str, object], field: str) -> None:
    transaction = {"amount": "1.00", "currency": "EUR", "payee": PAYEE}
    answer = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(),
        json={"username": "someone", "transaction": transaction, **body},
    )
    assert answer.status_code == 400
    assert answer.json()["extra"][0]["key"] == field


def _client_with_policy(bank: Bank, above: int | None) -> str:
    services = bank.services
    name = f"rp-{secrets.token_hex(3)}"
    key = make_client_key(services, name, ["transfer"])  # type: ignore[list-item]
    with services.db.transaction() as session:
        services.clients.require_signing(session, name, above)
    bank.secrets_used.add(key)
    return key


@pytest.mark.settings(client_cache_seconds=0)
def test_a_policy_requires_signing_above_an_amount(bank: Bank) -> None:
    key = _client_with_policy(bank, 10_000)  # 100.00
    signer = bank.add_signer()

    def plain(amount: object) -> tuple[int, dict[str, object]]:
        bank.clock.advance(60)  # a fresh code each time
        code = signer.code(bank.clock())
        bank.secrets_used.add(code)
        transaction = {"amount": amount, "currency": "EUR", "payee": PAYEE}
        answer = bank.client.post(
            "/api/v1/verify",
            headers=bank.headers(key),
            json={
                "username": signer.username,
                "code": code,
                "purpose": "transfer",
                "transaction": transaction,
            },
        )
        return answer.status_code, answer.json()

    assert plain("100.00")[0] == 200  # not above the threshold
    for amount in ("100.01", 5000, None):  # above it, or no amount it can read
        status, body = plain(amount)
        assert (status, body["result"], body["reason"]) == (403, "rejected", "signing_required")
        assert "signed on the token" in body["message"]
    # nothing was guessed: no budget spent, no failure counted for the source
    assert bank.services.verification.budget_levels(
        bank.credential(signer.credential_id).id or 0, "totp", 6
    )["anonymous"][0] == pytest.approx(5.0)
    reasons = [event.reason for event in _events(bank, signer.username)]
    assert reasons == ["accepted", "signing_required", "signing_required", "signing_required"]

    # the signature approves what a plain code may not
    response = signer.sign("5000.00", PAYEE, bank.clock())
    assert bank.verify_transfer(signer.username, response, "5000.00", PAYEE, key=key)[0] == 200

    # the officer lifts the rule: a plain code approves any transfer again
    key_without = _client_with_policy(bank, None)
    bank.clock.advance(60)
    code = signer.code(bank.clock())
    bank.secrets_used.add(code)
    answer = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(key_without),
        json={
            "username": signer.username,
            "code": code,
            "purpose": "transfer",
            "transaction": {"amount": "5000.00", "currency": "EUR", "payee": PAYEE},
        },
    )
    assert answer.status_code == 200


def test_a_signature_counts_once_on_postgresql(postgres_services: Services) -> None:
    """The replay memory's INSERT … SELECT … ON CONFLICT on the other database: the same
    response twice in one batch, then in the next."""
    services = postgres_services
    seed = secrets.token_bytes(32)
    stored = services.hsm.import_seed(seed, Algorithm.SHA256)
    with services.db.transaction() as session:
        customer = services.customers.add(session, "pg-signer", "s@example.com", "a password 1")
        credential = services.credentials.import_seed(
            session, customer, SeedImport(seed=secrets.token_bytes(20)), "test"
        )
        credential.ocra_suite = SUITE
        credential.ocra_wrapped_seed = stored.blob
        credential.ocra_seed_length = stored.length
        session.add(credential)
    transfer = Transfer(cents=100, currency="EUR", payee_reference="00054321")
    question = "00000000010000054321"
    response = oath_ocra(SUITE, seed, question, time_step=int(time.time() // 60))
    request = VerifyRequest(
        username="pg-signer",
        code="",
        purpose="transfer",
        client="test",
        response=response,
        transfer=transfer,
    )
    first = services.verification.verify_many([request, request])
    assert [(o.result.value, o.reason) for o in first] == [
        ("accepted", "accepted"),
        ("rejected", "replay"),
    ]
    assert services.verification.verify(request).reason == "replay"


def _imported_ocra_token(bank: Bank, drift: int = 0) -> tuple[str, bytes]:
    token = bank.add_vendor_token(drift)
    return token.username, token.seed


def _vendor_response(seed: bytes, cents: int, at: float) -> str:
    return oath_ocra(SUITE, seed, f"{cents:012d}00054321", time_step=int(at // 60))


def test_an_imported_ocra_token_signs_and_gives_no_plain_codes(bank: Bank) -> None:
    """Its signatures are accepted, and a plain code is never tried against its seed."""
    username, seed = _imported_ocra_token(bank)
    response = _vendor_response(seed, 420, bank.clock())
    assert bank.verify_transfer(username, response, "4.20", PAYEE)[0] == 200
    # the same 8 digits as a plain code, or a 6-digit code: nothing to compare them with
    for code in (response, "123456"):
        status, body = bank.verify(username, code)
        assert (status, body["result"]) == (403, "rejected")
    assert [e.reason for e in _events(bank, username)] == ["accepted"] + ["no_code_seed"] * 2


def test_signatures_are_forgotten_a_day_later(bank: Bank) -> None:
    """No step that old is in any window: the replay memory does not grow for ever."""
    signer = bank.add_signer()
    old = signer.sign("1.00", PAYEE, bank.clock())
    assert bank.verify_transfer(signer.username, old, "1.00", PAYEE)[0] == 200
    bank.clock.advance(86400 + 3601)
    new = signer.sign("2.00", PAYEE, bank.clock())
    assert bank.verify_transfer(signer.username, new, "2.00", PAYEE)[0] == 200
    with bank.services.db.transaction() as session:
        kept = [row.question for row in session.exec(select(SignatureUse)).all()]
    assert kept == ["000000000200" + "00054321"]
    # and the old response is still refused: its step is far outside the window
    assert bank.verify_transfer(signer.username, old, "1.00", PAYEE)[0] == 403


def test_an_imported_token_whose_clock_runs_ahead_signs_where_its_file_said(bank: Bank) -> None:
    """The vendor's file said the token runs 3 steps ahead (TimeDrift): its responses are
    looked for there; a token without that note, as far ahead, is refused."""
    username, seed = _imported_ocra_token(bank, drift=3)
    response = _vendor_response(seed, 500, bank.clock() + 180)
    assert bank.verify_transfer(username, response, "5.00", PAYEE)[0] == 200
    other, other_seed = _imported_ocra_token(bank)
    late = _vendor_response(other_seed, 500, bank.clock() + 180)
    assert bank.verify_transfer(other, late, "5.00", PAYEE)[0] == 403


def test_an_imported_token_teaches_its_drift_with_its_signatures(bank: Bank) -> None:
    """It has no codes to teach the server its clock: each accepted signature does, one
    step at a time, as codes do."""
    username, seed = _imported_ocra_token(bank)
    for ahead, cents in ((1, 100), (2, 200), (3, 300)):
        bank.clock.advance(60)
        response = _vendor_response(seed, cents, bank.clock() + 60 * ahead)
        assert bank.verify_transfer(username, response, f"{cents // 100}.00", PAYEE)[0] == 200


def test_a_response_without_the_transfer_it_signs_is_no_request() -> None:
    with pytest.raises(ValueError, match="give one of them"):
        VerifyRequest(username="a", code="", purpose="transfer", client="x", response="12345678")


def _answer_challenge(
    bank: Bank, username: str, response: str, challenge: str, purpose: str = "login"
) -> int:
    bank.secrets_used.add(response)
    answer = bank.client.post(
        "/api/v1/verify",
        headers=bank.headers(),
        json={
            "username": username,
            "purpose": purpose,
            "response": response,
            "challenge": challenge,
        },
    )
    return answer.status_code


def test_an_imported_ocra_token_logs_in_by_answering_the_banks_challenge(bank: Bank) -> None:
    """It gives no codes: the bank shows 8 random digits, the customer types them on the
    token, and its response answers that challenge once, and no other."""
    username, seed = _imported_ocra_token(bank)
    step = int(bank.clock() // 60)
    response = oath_ocra(SUITE, seed, "48213977", time_step=step)
    assert _answer_challenge(bank, username, response, "48213978") == 403  # another one
    assert _answer_challenge(bank, username, response, "48213977") == 200
    assert _answer_challenge(bank, username, response, "48213977") == 403  # a replay
    accepted = [e for e in _events(bank, username) if e.result == "accepted"]
    assert json.loads(accepted[0].details)["signed"] == {"challenge": "48213977"}
    assert accepted[0].purpose == "login"


def test_a_challenge_and_a_transfer_never_stand_for_each_other(bank: Bank) -> None:
    """The transfer's question is 20 digits, the challenge 8: a response to one is no
    response to the other, even over the same digits."""
    signer = bank.add_signer()
    step = int(bank.clock() // 60)
    transfer = signer.sign("1250.00", PAYEE, bank.clock())  # question 00000012500000054321
    assert _answer_challenge(bank, signer.username, transfer, "00054321") == 403
    login = oath_ocra(SUITE, signer.ocra_seed, "00054321", time_step=step)
    assert bank.verify_transfer(signer.username, login, "1250.00", PAYEE)[0] == 403
    assert _answer_challenge(bank, signer.username, login, "00054321", "new_keys") == 200

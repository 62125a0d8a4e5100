"""Malformed requests get a 4xx with a message, never a 500 or a stack trace."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.exceptions import HTTPException, ImproperlyConfiguredException

from server.portal.setup import security_headers
from tests.server.conftest import Bank, JsonLines

VALID = {"username": "someone", "code": "123456", "purpose": "login"}


def _post(bank: Bank, body: object, **kwargs: object) -> tuple[int, str]:
    headers = {**bank.headers(), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    if isinstance(body, (bytes, str)):
        response = bank.client.post("/api/v1/verify", content=body, headers=headers)
    else:
        response = bank.client.post("/api/v1/verify", json=body, headers=headers)
    return response.status_code, response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({k: v for k, v in VALID.items() if k != "code"}, "code"),
        ({k: v for k, v in VALID.items() if k != "username"}, "username"),
        ({k: v for k, v in VALID.items() if k != "purpose"}, "purpose"),
        ({**VALID, "code": "12a456"}, "code"),
        ({**VALID, "code": "12345"}, "code"),
        ({**VALID, "code": "123456789"}, "code"),
        ({**VALID, "code": 123456}, "code"),
        ({**VALID, "code": " 123456"}, "code"),
        ({**VALID, "purpose": "withdraw_everything"}, "purpose"),
        ({**VALID, "username": ""}, "username"),
        ({**VALID, "username": "x" * 151}, "username"),
        # control characters: PostgreSQL refuses a NUL, and none belongs in these fields
        ({**VALID, "username": "ana\u0000"}, "username"),
        ({**VALID, "username": "ana\nadmin"}, "username"),
        ({**VALID, "source": "10.0.0.1\u0000"}, "source"),
        ({**VALID, "context": "device-cookie-0001\u0000"}, "context"),
        ({**VALID, "transaction": "not an object"}, "transaction"),
        ({**VALID, "transaction": {f"k{i}": i for i in range(40)}}, "transaction"),
        ({**VALID, "transaction": {"nested": {"too": "deep"}}}, "transaction"),
        ({**VALID, "extra": "field"}, "extra"),
        ([VALID], "object"),
    ],
)
def test_invalid_bodies_are_400_with_the_field_named(
    bank: Bank, body: object, fragment: str
) -> None:
    status, text = _post(bank, body)
    assert status == 400, text
    assert fragment in text
    assert "Traceback" not in text


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe\x00", b"null"])
def test_unparseable_json_is_400(bank: Bank, raw: bytes) -> None:
    status, text = _post(bank, raw, headers={"Content-Type": "application/json"})
    assert status == 400, text


def test_one_megabyte_body_is_413(bank: Bank) -> None:
    body = json.dumps({**VALID, "username": "x" * 1_000_000})
    status, text = _post(bank, body, headers={"Content-Type": "application/json"})
    assert status == 413, text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
    ],
)
def test_wrong_content_type_is_415(bank: Bank, content_type: str) -> None:
    status, text = _post(
        bank, "username=a&code=123456&purpose=login", headers={"Content-Type": content_type}
    )
    assert status == 415, text
    assert "must be JSON" in text


def test_a_body_without_content_type_is_read_as_json(bank: Bank) -> None:
    response = bank.client.post("/api/v1/verify", content=json.dumps(VALID), headers=bank.headers())
    assert (response.status_code, response.json()["result"]) == (403, "rejected")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/x+json"]
)
def test_json_content_types_are_read(bank: Bank, content_type: str) -> None:
    status, text = _post(bank, json.dumps(VALID), headers={"Content-Type": content_type})
    assert status == 403, text  # an unknown user: the body was read and decided on
    assert json.loads(text)["result"] == "rejected"


def test_a_400_names_the_field_and_never_repeats_a_wrong_purpose(bank: Bank) -> None:
    status, text = _post(bank, {**VALID, "purpose": "987654"})
    assert status == 400, text
    problem = json.loads(text)["extra"][0]
    assert problem["key"] == "purpose"
    assert "login" in problem["message"]
    assert "987654" not in text
    status, text = _post(bank, {**VALID, "code": "12a456"})
    assert json.loads(text)["extra"][0]["key"] == "code"


def test_a_streamed_body_over_the_limit_is_413(bank: Bank) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"username": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'", "code": "123456", "purpose": "login"}'

    response = bank.client.post(
        "/api/v1/verify",
        content=chunks(),
        headers={**bank.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "larger than" in response.json()["detail"]


def test_two_api_keys_are_refused(bank: Bank) -> None:
    sent = _asgi(bank, _auth(bank) * 2, [json.dumps(VALID).encode()])
    assert sent[0]["status"] == 401
    assert b"one API key" in sent[1]["body"]


@pytest.mark.parametrize("length", [b"12x", b"-5", b"9" * 4400])
def test_a_content_length_that_is_no_number_is_400(bank: Bank, length: bytes) -> None:
    sent = _asgi(bank, [*_auth(bank), (b"content-length", length)], [json.dumps(VALID).encode()])
    assert sent[0]["status"] == 400
    assert b"Content-Length" in sent[1]["body"]


def test_the_body_limit_counts_every_chunk(bank: Bank) -> None:
    limit = bank.services.settings.max_body_bytes
    exact = json.dumps(VALID).encode()
    exact += b" " * (limit - len(exact))  # JSON allows the padding
    thirds = [exact[: limit // 3], exact[limit // 3 : 2 * limit // 3], exact[2 * limit // 3 :]]
    at_limit = _asgi(bank, _auth(bank), thirds)
    assert at_limit[0]["status"] == 403  # read and decided: an unknown user
    over = _asgi(bank, _auth(bank), [*thirds, b" "])
    assert over[0]["status"] == 413
    assert b"larger than" in over[1]["body"]


def test_the_client_is_authenticated_before_the_body_is_read(bank: Bank) -> None:
    received: list[object] = []
    sent = _asgi(bank, [(b"authorization", b"Bearer nonsense")], [b"{"], received)
    assert sent[0]["status"] == 401
    assert received == []  # the body was never asked for


def test_a_client_gone_before_or_during_its_body_gets_no_answer(bank: Bank) -> None:
    assert _asgi(bank, _auth(bank), [], complete=False) == []
    assert _asgi(bank, _auth(bank), [b'{"username": "someone",'], complete=False) == []


def _auth(bank: Bank) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", bank.headers()["Authorization"].encode())]


def _asgi(
    bank: Bank,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes],
    received: list[object] | None = None,
    *,
    complete: bool = True,
) -> list[dict[str, Any]]:
    """Call the app as a server would, on the test client's event loop, with a JSON body in
    `chunks` (one `http.request` message each); then the client goes away. Unless
    `complete`, it goes away before the last chunk says the body is over. Returns what the
    app sent; `received` collects what it asked for."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if complete:
        messages[-1]["more_body"] = False
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []
    log = received if received is not None else []

    async def receive() -> dict[str, Any]:
        message = messages.pop(0) if len(messages) > 1 else messages[0]
        log.append(message)
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/verify",
        "raw_path": b"/api/v1/verify",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    bank.client.blocking_portal.call(bank.client.app, scope, receive, send)
    return sent


def test_error_answers_carry_the_security_headers(bank: Bank) -> None:
    expected = security_headers(bank.services.settings)
    answers = [
        bank.client.post("/api/v1/verify", json={**VALID, "code": "x"}, headers=bank.headers()),
        bank.client.post("/api/v1/verify", json=VALID),
        bank.client.post(
            "/api/v1/verify", content="a", headers={**bank.headers(), "Content-Type": "text/plain"}
        ),
        bank.client.get("/api/v1/verify", headers=bank.headers()),
        bank.client.get("/api/v1/nope"),
    ]
    assert [a.status_code for a in answers] == [400, 401, 415, 405, 404]
    for answer in answers:
        assert {name: answer.headers.get(name) for name in expected} == expected, answer.text
    assert answers[1].headers["www-authenticate"].startswith("Bearer")


def _http_599(detail: str) -> HTTPException:
    return HTTPException(detail, status_code=599)


@pytest.mark.parametrize(
    ("failure", "status", "error"),
    [
        (RuntimeError, 500, "RuntimeError"),
        (ImproperlyConfiguredException, 500, "ImproperlyConfiguredException"),
        (_http_599, 599, "HTTPException"),
    ],
)
def test_a_failure_below_the_api_is_a_logged_5xx_that_tells_nothing(
    bank: Bank,
    json_logs: JsonLines,
    failure: Callable[[str], Exception],
    status: int,
    error: str,
) -> None:
    """A bug, or Litestar's own 5xx (a misconfiguration, a status of nobody's list): logged
    with its traceback, and answered with a plain text and the security headers."""
    first_line = len(json_logs.lines)
    detail = "a bug below the API, near /srv/private"

    async def broken(request: object) -> None:
        raise failure(detail)

    bank.services.verify_batcher.verify = broken  # type: ignore[method-assign,assignment]
    answer = bank.client.post("/api/v1/verify", json=VALID, headers=bank.headers())
    assert (answer.status_code, answer.json()["detail"]) == (status, "Internal Server Error")
    assert "private" not in answer.text
    expected = security_headers(bank.services.settings)
    assert {name: answer.headers.get(name) for name in expected} == expected
    failed = [json.loads(line) for line in json_logs.lines[first_line:] if "request.failed" in line]
    assert [(f["path"], f["error"]) for f in failed] == [("/api/v1/verify", error)]
    traceback = failed[0]["exception"]
    assert "in broken" in traceback and f"{error} (message withheld" in traceback
    assert "private" not in traceback  # messages may quote data
    # the OpenAPI rightly documents no 5xx but 503: this one is the bug injected above
    assert bank.contract is not None
    assert [v.split(" answered ")[1][:3] for v in bank.contract.violations] == [str(status)]
    bank.contract.violations.clear()


def test_wrong_method_and_path(bank: Bank) -> None:
    assert bank.client.get("/api/v1/verify", headers=bank.headers()).status_code == 405
    assert bank.client.post("/api/v1/nope", json=VALID).status_code == 404

"""Malformed requests get a 4xx with a message, never a 500 or a stack trace."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import Bank

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
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_wrong_content_type_is_4xx(bank: Bank, content_type: str) -> None:
    status, text = _post(
        bank, "username=a&code=123456&purpose=login", headers={"Content-Type": content_type}
    )
    assert 400 <= status < 500, text
    assert "Traceback" not in text


def test_wrong_method_and_path(bank: Bank) -> None:
    assert bank.client.get("/api/v1/verify", headers=bank.headers()).status_code == 405
    assert bank.client.post("/api/v1/nope", json=VALID).status_code == 404

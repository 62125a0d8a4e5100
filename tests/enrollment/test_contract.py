"""The OpenAPI says what the token and customer endpoints answer, and nothing else comes back.

Each test's client carries `OpenApiContract` (tests/contract.py): any answer to an `/api/`
operation with a status the OpenAPI does not list fails the test. Here the operations are
walked as an integrator's fuzzer would: every operation of the document, with no
credentials, a malformed body, a wrong content type, an oversized body, and signed requests
with bodies that do not fit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract import OpenApiContract
from tests.enrollment.conftest import Enrollment

SIGNED_OPERATIONS = {
    ("POST", "/api/v1/registrations"),
    ("POST", "/api/v1/registrations/{registration_id}/confirm"),
    ("POST", "/api/v1/activations/redeem"),
    ("DELETE", "/api/v1/credentials/{credential_id}"),
}
HEADERS = {"X-OTP-Public-Key", "X-OTP-Timestamp", "X-OTP-Nonce", "X-OTP-Signature"}


def _schema(enroll: Enrollment) -> dict[str, Any]:
    return enroll.client.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api/v1/") and path != "/api/v1/verify"
    ]


def test_the_contract_checker_notices_an_undocumented_answer() -> None:
    contract = OpenApiContract(
        {"paths": {"/api/v1/things/{id}": {"get": {"responses": {"200": {}, "404": {}}}}}}
    )

    def answer(status: int, body: object) -> httpx.Response:
        request = httpx.Request("GET", "http://test/api/v1/things/abc")
        return httpx.Response(status, json=body, request=request)

    contract.check(answer(200, {"id": "abc"}))
    contract.check(answer(404, {"status_code": 404, "detail": "no such thing"}))
    assert contract.violations == []
    contract.check(answer(409, {"status_code": 409, "detail": "conflict"}))
    contract.check(answer(404, {"error": "no such thing"}))
    contract.check(answer(404, {"status_code": 400, "detail": "no such thing"}))
    assert len(contract.violations) == 3
    assert "answered 409, documented [200, 404]" in contract.violations[0]
    wrong_method = httpx.Request("POST", "http://test/api/v1/things/abc")
    contract.check(httpx.Response(405, request=wrong_method))
    unknown = httpx.Request("GET", "http://test/api/v1/nothing")
    contract.check(httpx.Response(404, request=unknown))
    assert len(contract.violations) == 3
    contract.check(httpx.Response(200, request=unknown))
    assert "(not in the OpenAPI) answered 200" in contract.violations[3]


def test_signed_operations_declare_their_headers_and_answers(enroll: Enrollment) -> None:
    schema = _schema(enroll)
    for method, path, operation in _operations(schema):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        statuses = set(operation["responses"])
        if (method, path) in SIGNED_OPERATIONS:
            assert headers == HEADERS, (method, path)
            assert {"401", "503"} <= statuses, (method, path)
            assert "nonce is spent" in operation["description"]
        else:
            assert not headers & HEADERS, (method, path)
    confirm = schema["paths"]["/api/v1/registrations/{registration_id}/confirm"]["post"]
    assert {"200", "400", "401", "404", "409", "410"} <= set(confirm["responses"])
    removal = schema["paths"]["/api/v1/credentials/{credential_id}"]["delete"]
    assert {"204", "401", "404"} <= set(removal["responses"])
    activation = schema["paths"]["/api/v1/activations"]["post"]
    assert activation["security"] == [{"customer": []}]
    assert "403" in activation["responses"] and "`code`" in activation["description"]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["customer"] == {
        "type": "http",
        "scheme": "basic",
        "description": "The customer's online-banking login",
    }


def _concrete(path: str) -> str:
    return path.replace("{registration_id}", "reg_0000").replace("{credential_id}", "cred_0000")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (None, None),
        (b"{}", "application/json"),
        (b"{not json", "application/json"),
        (b'{"username": 7}', "application/json"),
        (b"username=a&password=b", "application/x-www-form-urlencoded"),
        (b"[" * 70_000, "application/json"),
    ],
    ids=["empty", "empty-object", "broken-json", "wrong-types", "form", "oversized"],
)
def test_every_operation_answers_bad_requests_as_documented(
    enroll: Enrollment, content: bytes | None, content_type: str | None
) -> None:
    schema = _schema(enroll)
    token = enroll.token()
    for method, path, _operation in _operations(schema):
        url = _concrete(path).replace("{activation_id}", "act_0000")
        headers = {"Content-Type": content_type} if content_type else {}
        plain = enroll.client.request(method, url, content=content, headers=headers)
        assert plain.status_code < 500 or plain.status_code == 503, (method, path, plain.text)
        if (method, path) in SIGNED_OPERATIONS:
            body = json.loads(content) if content == b'{"username": 7}' else None
            signed = token.signed(method, url, body)
            assert signed.status_code < 500, (method, path, signed.text)
            assert token.replay_last().status_code == 401
    # the conformance check itself runs at the fixture's teardown


PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _documented_in_protocol() -> dict[str, set[int]]:
    """The statuses docs/protocol.md's answers table gives per endpoint (`METHOD /path`)."""
    rows = re.findall(r"^\| `(GET|POST|DELETE) ([^`]+)` \| (.+) \|$", PROTOCOL, re.MULTILINE)
    table = {
        f"{method} /api/v1{path}": {int(code) for code in re.findall(r"\b([1-5]\d\d)\b", text)}
        for method, path, text in rows
        if not path.startswith("/api/")
    }
    common = re.search(r"^\| every signed one \| (.+) \|$", PROTOCOL, re.MULTILINE)
    assert common is not None
    table["signed"] = {int(code) for code in re.findall(r"\b([1-5]\d\d)\b", common.group(1))}
    enrolling = re.search(r"^\| every enrollment \(.+?\) \| (.+) \|$", PROTOCOL, re.MULTILINE)
    assert enrolling is not None
    table["enrollment"] = {int(code) for code in re.findall(r"\b([1-5]\d\d)\b", enrolling.group(1))}
    return table


def test_protocol_md_names_every_error_status_the_openapi_lists(enroll: Enrollment) -> None:
    documented = _documented_in_protocol()
    for method, path, operation in _operations(_schema(enroll)):
        errors = {int(code) for code in operation["responses"]} - {200, 201, 202, 204}
        if method == "GET" and path in ("/api/v1/time", "/api/v1/provisioning-key"):
            assert errors <= {503}
            assert "`/api/v1/provisioning-key` answers 503" in PROTOCOL
            continue
        key = method + " " + re.sub(r"\{[^}]+\}", "{id}", path)
        said = documented[key] | (
            documented["signed"] if (method, path) in SIGNED_OPERATIONS else set()
        )
        if method == "POST" and "credentials" not in path:
            said |= documented["enrollment"]
        # 400 for a malformed body is said once, above the table, for every endpoint
        assert errors - {400} <= said, (key, sorted(errors - said))


def test_every_error_answer_and_request_body_has_an_example(enroll: Enrollment) -> None:
    schema = _schema(enroll)
    for method, path, operation in _operations(schema):
        for status, answer in operation["responses"].items():
            litestars_own = answer["description"] == "Bad request syntax or unsupported method"
            if int(status) < 400 or litestars_own:
                continue  # Litestar's 400 for a malformed parameter, with its own schema
            (example,) = answer["content"]["application/json"]["examples"].values()
            assert example["value"]["status_code"] == int(status), (method, path, status)
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            # Litestar puts a body's examples in its schema (JSON Schema `examples`)
            assert content.get("examples") or content["schema"].get("examples"), (method, path)

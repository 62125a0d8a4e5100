"""The success examples of the OpenAPI cannot drift: each is valid against its operation's
response schema, has the shape of what the real call answers, and is the worked example of
docs/protocol.md §5 (the same bundle, key, device ID, activation code and credential)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.contract import OpenApiContract
from tests.enrollment.conftest import Enrollment

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
WORKED = json.loads(re.search(r"```json\n(.*?)\n```", DOC, re.DOTALL).group(1))  # type: ignore[union-attr]
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _successes(schema: dict[str, Any]) -> dict[tuple[str, str], tuple[int, Any]]:
    """Every `/api/` operation's success status and the value of its one example (None
    for an answer without a body)."""
    found = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/api/"):
                continue
            responses = operation["responses"].items()
            ((status, answer),) = [(s, a) for s, a in responses if s.startswith("2")]
            if "content" not in answer:
                found[(method.upper(), path)] = (int(status), None)
                continue
            (example,) = answer["content"]["application/json"]["examples"].values()
            found[(method.upper(), path)] = (int(status), example["value"])
    return found


def _conforms(
    schema: schemathesis.BaseSchema, method: str, path: str, response: httpx.Response
) -> None:
    """Schemathesis' checks of `response` as an answer of the operation (`path` template)."""
    operation = schema[path][method]
    names = re.findall(r"\{([^}]+)\}", path)
    case = operation.Case(path_parameters=dict.fromkeys(names, "x"))
    case.validate_response(response, checks=CHECKS)


def _shape(value: Any) -> Any:
    """The JSON types of `value`, field by field."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_every_example_of_an_answer_is_valid_against_its_schema(enroll: Enrollment) -> None:
    document = enroll.client.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    successes = _successes(document)
    assert len(successes) == 9
    assert [key for key, (status, value) in successes.items() if value is None] == [
        ("DELETE", "/api/v1/credentials/{credential_id}")
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                content = answer.get("content", {}).get("application/json", {})
                for example in content.get("examples", {}).values():
                    request = httpx.Request(method.upper(), "http://testserver" + path)
                    response = httpx.Response(int(status), json=example["value"], request=request)
                    response.elapsed = datetime.timedelta(0)  # schemathesis reads it
                    _conforms(schema, method.upper(), path, response)


def test_every_success_example_has_the_shape_of_the_real_answer(enroll: Enrollment) -> None:
    document = enroll.client.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    contract = OpenApiContract(document)  # to name each answer's operation
    answers: dict[tuple[str, str], httpx.Response] = {}

    def keep(response: httpx.Response) -> None:
        found = contract.operation(response.request.method, response.request.url.path)
        if found is not None and response.is_success:
            response.read()
            answers[(response.request.method, found[0])] = response

    enroll.client.event_hooks["response"].append(keep)
    token, person = enroll.token(), enroll.customer()
    provisioned = enroll.activate(token, person)
    activation_id = answers[("POST", "/api/v1/activations")].json()["activation_id"]
    enroll.client.get(f"/api/v1/activations/{activation_id}", auth=enroll.portal_auth(person))
    assert enroll.verify(person.username, provisioned.totp().at(enroll.clock())) == "accepted"
    enroll.register(enroll.token(), enroll.customer())
    credential_id = provisioned.bundle["credential_id"]
    token.signed("DELETE", f"/api/v1/credentials/{credential_id}")

    successes = _successes(document)
    assert set(answers) == set(successes)
    for (method, path), (status, example) in successes.items():
        real = answers[(method, path)]
        assert real.status_code == status, (method, path)
        _conforms(schema, method, path, real)
        if example is not None:
            assert _shape(example) == _shape(real.json()), (method, path)


def test_the_examples_are_the_worked_example_of_protocol_md(enroll: Enrollment) -> None:
    successes = _successes(enroll.client.get("/schema/openapi.json").json())
    bundle = WORKED["bundle"]
    fix = "regenerated docs/protocol.md? copy its values into server/domain/enrollment/examples.py"
    for path in ("/api/v1/activations/redeem", "/api/v1/registrations/{registration_id}/confirm"):
        assert successes[("POST", path)][1] == bundle, fix
    key = successes[("GET", "/api/v1/provisioning-key")][1]
    point = base64.urlsafe_b64decode(key["public_key"] + "=" * (-len(key["public_key"]) % 4))
    assert key["public_key"] == WORKED["provisioning_public_key"], fix
    assert key["fingerprint"] == hashlib.sha256(point).hexdigest()
    assert key["key_id"] == bundle["provisioning_key"]
    issued = successes[("POST", "/api/v1/activations")][1]
    assert issued["activation_code"] in WORKED["redeem_request"]["body"], fix
    assert issued["device_id"].replace(" ", "") == WORKED["device_id"] == bundle["device_id"]
    state = successes[("GET", "/api/v1/activations/{activation_id}")][1]
    assert state["activation_id"] == issued["activation_id"]
    assert state["device_id"] == issued["device_id"]
    assert state["credential_id"] == bundle["credential_id"]
    accepted = successes[("POST", "/api/v1/verify")][1]
    assert accepted["credential_id"] == bundle["credential_id"]
    time = successes[("GET", "/api/v1/time")][1]["server_time"]
    assert 0 < bundle["server_time"] - time < 60

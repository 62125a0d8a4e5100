"""Schemathesis walks the OpenAPI: every `/api/` operation, requests generated from its
schema (valid ones and ones that break it), each answer checked against what the OpenAPI
documents for the operation.

The requests carry real credentials, so that the generated bodies reach the handlers: the
relying party's API key for `/verify`, a customer's HTTP Basic login for `/activations`, and
for the token endpoints the four `X-OTP-*` headers signed over the exact bytes sent (unless
schemathesis broke the headers on purpose). The customer and the token key are those of the
OpenAPI's request examples, which schemathesis sends as well, so some requests get past the
password and device checks. They go through the enrollment fixture's client (SoftHSM,
SQLite, the SMTP server on loopback), so `tests/contract.py` checks every answer as well,
and no log line may show the password. The run is bounded and deterministic: Hypothesis
derandomized, no example database, a fixed number of examples per operation and mode."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from server.domain.enrollment.controllers import REGISTRATION_EXAMPLE
from server.domain.verification.schemas import MAX_TRANSACTION_FIELDS, MAX_TRANSACTION_NAME
from tests.enrollment.conftest import Enrollment, Person
from tests.enrollment.example import EXAMPLE_SCALAR
from tests.enrollment.test_contract import SIGNED_OPERATIONS
from tests.enrollment.token_client import TokenClient

OPERATIONS = [
    ("POST", "/api/v1/verify"),
    ("GET", "/api/v1/time"),
    ("GET", "/api/v1/provisioning-key"),
    ("POST", "/api/v1/activations"),
    ("GET", "/api/v1/activations/{activation_id}"),
    ("POST", "/api/v1/registrations"),
    ("POST", "/api/v1/registrations/{registration_id}/confirm"),
    ("POST", "/api/v1/activations/redeem"),
    ("DELETE", "/api/v1/credentials/{credential_id}"),
]
WITHOUT_INPUT = {("GET", "/api/v1/time"), ("GET", "/api/v1/provisioning-key")}
"""No parameter and no body: nothing a negative case could break."""
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE or (method, path) not in WITHOUT_INPUT
]


def valid_requests_pass_validation(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A request the OpenAPI calls valid is never refused by the server's own schema
    validation (400 with `extra` naming the field). A 400 for what no schema can say (a
    wrong check digit, a wrong code) is still an answer."""
    del ctx
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    if response.status_code == 400:
        body = response.json()
        assert "extra" not in body, f"the OpenAPI allows what the server refuses: {body}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    valid_requests_pass_validation,
]
EXAMPLES = 20
"""Per operation and mode: about 300 requests in all, under 10 s."""
BOUNDED = hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def test_every_api_operation_is_walked(enroll: Enrollment) -> None:
    schema = enroll.client.get("/schema/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/")
    }
    assert documented == set(OPERATIONS)
    without_input = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api/") and not ({"parameters", "requestBody"} & set(operation))
    }
    assert without_input == WITHOUT_INPUT


def _negated(case: schemathesis.Case, location: ParameterLocation) -> bool:
    """Whether schemathesis broke this part of the request on purpose."""
    info = case.meta.components.get(location) if case.meta is not None else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


class Caller:
    """Sends a generated case through the fixture's client with the credentials its
    operation declares: a security scheme (`apiKey`, `customer`) or the signature headers."""

    def __init__(self, enroll: Enrollment, customer: Person, token: TokenClient) -> None:
        self.enroll = enroll
        self.token = token
        login = base64.b64encode(f"{customer.username}:{customer.password}".encode()).decode()
        self.authorization = {"apiKey": f"Bearer {enroll.api_key}", "customer": f"Basic {login}"}

    def send(self, case: schemathesis.Case) -> Any:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        headers = {name: str(value) for name, value in kwargs["headers"].items()}
        if "json" in kwargs:
            content: bytes = json.dumps(kwargs["json"]).encode()
        else:
            content = kwargs.get("data") or b""
            content = content.encode() if isinstance(content, str) else content
        path = urlsplit(kwargs["url"]).path
        # credentials unless schemathesis broke the headers on purpose (then 401 answers)
        if not _negated(case, ParameterLocation.HEADER):
            for requirement in case.operation.definition.raw.get("security", []):
                (scheme,) = requirement
                headers["Authorization"] = self.authorization[scheme]
            if (case.method, case.path) in SIGNED_OPERATIONS:
                # signed over the path as the server routes it: percent-decoded
                headers.update(self.token.signature_headers(case.method, unquote(path), content))
        return self.enroll.client.request(
            case.method, path, params=kwargs.get("params"), content=content or None, headers=headers
        )


def _example_customer(enroll: Enrollment) -> Person:
    """The customer of the OpenAPI's request examples (schemathesis sends them too), with
    the password they show: those requests get past the password check."""
    example = REGISTRATION_EXAMPLE
    person = Person(example["username"], f"{example['username']}@example.com", example["password"])
    with enroll.services.db.transaction() as session:
        enroll.services.customers.add(
            session, person.username, person.email, person.password, "Ana Pérez"
        )
    enroll.secrets_used.add(person.password)  # the fixture fails if a log line shows it
    return person


def _example_token(enroll: Enrollment) -> TokenClient:
    """The token of the worked example, whose device ID the request examples show."""
    key = ec.derive_private_key(EXAMPLE_SCALAR, ec.SECP256R1())
    token = TokenClient(enroll.client, key=key, clock=enroll.clock)
    assert token.device_id == REGISTRATION_EXAMPLE["device_id"]
    token.first_contact()
    return token


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_answer_is_documented(
    enroll: Enrollment, method: str, path: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(enroll.client.get("/schema/openapi.json").json())
    operation = schema[path][method]
    caller = Caller(enroll, _example_customer(enroll), _example_token(enroll))

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def walk(case: schemathesis.Case) -> None:
        response = caller.send(case)
        case.validate_response(response, checks=CHECKS)

    walk()


@pytest.mark.parametrize(
    ("transaction", "valid"),
    [
        ({"amount": 100, "currency": "EUR"}, True),
        ({"amount": 10.5, "to": "ES91 2100 0418", "urgent": True, "note": None}, True),
        ({f"field{i}": "x" for i in range(MAX_TRANSACTION_FIELDS)}, True),
        ({f"field{i}": "x" for i in range(MAX_TRANSACTION_FIELDS + 1)}, False),
        ({"n" * MAX_TRANSACTION_NAME: "x"}, True),
        ({"n" * (MAX_TRANSACTION_NAME + 1): "x"}, False),
        ({"amount": [100]}, False),
    ],
    ids=["integer", "scalars", "most-fields", "too-many", "longest-name", "too-long", "list"],
)
def test_the_openapi_and_the_server_agree_on_a_transaction(
    enroll: Enrollment, transaction: dict[str, Any], valid: bool
) -> None:
    """Where generated bodies rarely go: the limits of `transaction`, and integers (which
    a `oneOf` of integer and number would refuse)."""
    document = enroll.client.get("/schema/openapi.json").json()
    root = {"$ref": "#/components/schemas/VerifyBody", "components": document["components"]}
    body = {"username": "nobody", "code": "123456", "purpose": "login", "transaction": transaction}
    assert jsonschema_rs.validator_for(root).is_valid(body) is valid
    answer = enroll.client.post(
        "/api/v1/verify", headers={"Authorization": f"Bearer {enroll.api_key}"}, json=body
    )
    assert (answer.status_code != 400) is valid, answer.text

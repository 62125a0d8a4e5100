"""The enrollment API: time, the provisioning key, registrations, activations, deletion."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, cast

import anyio.to_thread
from litestar import Controller, Request, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, HeaderParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from hsm import HsmError
from server.db.models import Customer
from server.di import AppServices
from server.domain.enrollment import examples
from server.domain.enrollment.device_id import group
from server.domain.enrollment.schemas import (
    ActivationBody,
    ActivationIssuedBody,
    ActivationStateBody,
    ConfirmBody,
    ErrorBody,
    ProvisioningBundleBody,
    ProvisioningKeyBody,
    RedeemBody,
    RegistrationBody,
    RegistrationStartedBody,
    TimeBody,
)
from server.domain.enrollment.signing import SignedRequest, b64url, verify_request
from server.errors import DeviceRevoked, NotAuthenticated, ServiceUnavailable
from server.services import Services
from server.transport import client_address

SIGNED = (
    "A signed token request: the four `X-OTP-*` headers (docs/protocol.md §2). Whatever the "
    "answer, the request's nonce is spent: a second copy gets 401."
)
UNSIGNED = (
    "the request is not signed by a token key: a header is missing or malformed, the "
    "timestamp is more than 300 s from the server's clock (set it from `/api/v1/time`), the "
    "signature does not verify, or the nonce was seen before (a replayed request)"
)
LOGIN = "no HTTP Basic login, or a wrong username or password (one answer for both)"
ANSWERS = {
    400: "the body or a parameter is malformed: `detail` says which",
    401: UNSIGNED,
    403: "this token was revoked (lost or stolen) and cannot be enrolled again",
    404: "not found",
    409: "conflict",
    410: "gone: start again",
    413: "the body is over the size limit (`OTP_MAX_BODY_BYTES`)",
    429: "too many attempts; `Retry-After` says when to try again",
    503: "the database, the HSM or the mail server cannot be used now; `Retry-After` says "
    "when to try again",
}
SIGNATURE_HEADERS = {
    "x_otp_public_key": HeaderParameter(
        annotation=str,
        name="X-OTP-Public-Key",
        description="b64url of the token's P-256 point (65 bytes)",
    ),
    "x_otp_timestamp": HeaderParameter(
        annotation=str, name="X-OTP-Timestamp", description="the token's Unix time in whole seconds"
    ),
    "x_otp_nonce": HeaderParameter(
        annotation=str, name="X-OTP-Nonce", description="16 to 64 b64url characters, never reused"
    ),
    "x_otp_signature": HeaderParameter(
        annotation=str,
        name="X-OTP-Signature",
        description="b64url of the DER ECDSA P-256/SHA-256 signature of the signing input",
    ),
}


EXAMPLE_DETAILS = {
    400: "the code is not correct",
    401: "this request was sent before: a replayed request is refused",
    403: str(DeviceRevoked()),
    404: "no such registration for this token",
    409: "this device ID is bound to another key",
    410: "the code has expired: start again",
    413: "Request Entity Too Large",
    429: "too many wrong passwords: try again later",
    503: "the HSM cannot be used now",
}
REGISTRATION_EXAMPLE = {
    "username": "ana.perez",
    "password": "the online-banking password",
    "device_id": "0203667801700878",
}
ACTIVATION_EXAMPLE = {"device_id": "0203 6678 0170 0878", "token_kind": "hardware"}
REDEEM_EXAMPLE = {"device_id": "0203667801700878", "activation_code": "1234567890"}


def _example(value: dict[str, Any], summary: str = "example") -> Example:
    return Example(summary=summary, value=value)


def answers(*statuses: int, reasons: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """The error answers of one operation for the OpenAPI: `{"status_code", "detail"}`
    bodies, each with this operation's own reason (`reasons`) or the common one."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=(reasons or {}).get(status, ANSWERS[status]),
            generate_examples=False,
            examples=[
                _example({"status_code": status, "detail": EXAMPLE_DETAILS[status]}, "one of them")
            ],
        )
        for status in statuses
    }


def success(
    status: int, container: type, example: dict[str, Any], description: str
) -> dict[int, ResponseSpec]:
    """An operation's success answer for the OpenAPI, with its example: a value from the
    worked example of docs/protocol.md (`server.domain.enrollment.examples`)."""
    return {
        status: ResponseSpec(
            data_container=container,
            description=description,
            generate_examples=False,
            examples=[_example(example, "the worked example of docs/protocol.md")],
        )
    }


BUNDLE = "the provisioning bundle (docs/protocol.md §4)"


async def token_signed(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every signed token endpoint: check the signature, then spend the nonce.

    It runs before the body is parsed or anything is looked up, so every request whose
    signature verifies spends its nonce whatever its answer (a 400 for a malformed body
    included), and a second copy is refused as a replay (docs/protocol.md, "Signed
    requests")."""
    services: Services = connection.app.state.services
    request = cast("Request[Any, Any, Any]", connection)
    signed = verify_request(
        request.method,
        request.url.path,
        request.headers,
        await request.body(),
        services.clock(),
        services.settings.request_clock_skew_seconds,
    )
    await anyio.to_thread.run_sync(services.binding.spend_nonce, signed)
    connection.state.signed_request = signed


def _signed(request: Request[Any, Any, Any]) -> SignedRequest:
    """The request as `token_signed` checked it."""
    signed: SignedRequest = request.state.signed_request
    return signed


def _customer(request: Request[Any, Any, Any], services: Services) -> Customer:
    """The customer the request's HTTP Basic login names (the password checked and its
    failures counted: call it off the event loop)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    try:
        username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        username = password = ""
    if scheme.lower() != "basic" or not username:
        raise NotAuthenticated("log in with the online-banking username and password")
    return services.customers.authenticate(username, password, client_address(request))


class EnrollmentController(Controller):
    """What the token and the portal call to get a seed onto the token."""

    path = "/api/v1"
    tags = ("enrollment",)

    @get(
        "/time",
        summary="Server time, for the token's clock offset",
        responses=success(200, TimeBody, examples.TIME, "the server's Unix time"),
    )
    async def time(self, services: AppServices) -> TimeBody:
        """The server's Unix time in seconds."""
        return TimeBody(services.clock())

    @get(
        "/provisioning-key",
        summary="The public key that signs provisioning bundles",
        responses=success(200, ProvisioningKeyBody, examples.PROVISIONING_KEY, "the key to pin")
        | answers(503),
    )
    async def provisioning_key(self, services: AppServices) -> ProvisioningKeyBody:
        """Tokens pin this key (at first contact, or from their configuration)."""
        try:
            version, point = await services.hsm.run_async(services.hsm.provisioning_public_key)
        except HsmError as exc:
            raise ServiceUnavailable("the HSM cannot be used now") from exc
        return ProvisioningKeyBody(
            f"otp-provisioning-v{version}", b64url(point), hashlib.sha256(point).hexdigest()
        )

    @post(
        "/activations",
        sync_to_thread=True,
        summary="Ask for an activation code (HTTP Basic: the online-banking login)",
        description="The code is shown once. A customer who has an active token must send "
        "`code`, a current code from that token.",
        status_code=HTTP_201_CREATED,
        security=[{"customer": []}],
        responses=success(
            201,
            ActivationIssuedBody,
            examples.ACTIVATION_ISSUED,
            "the activation code to type on the token, shown this once",
        )
        | answers(
            400,
            401,
            403,
            413,
            429,
            503,
            reasons={
                400: "the device ID is not correct (16 digits with a check digit), the kind "
                "of token is unknown, or the body is malformed",
                401: LOGIN,
                403: "the customer has a token: `code` from it is missing or not correct; or "
                "this device was revoked and cannot be enrolled again",
                429: "too many wrong passwords or activations; `Retry-After` says when",
            },
        ),
    )
    def create_activation(
        self,
        data: Annotated[ActivationBody, Body(examples=[_example(ACTIVATION_EXAMPLE)])],
        request: Request[Any, Any, Any],
        services: AppServices,
    ) -> ActivationIssuedBody:
        """Checks the device ID's check digit; the code is shown once."""
        customer = _customer(request, services)
        issued = services.activation.create(
            customer,
            data.device_id,
            data.token_kind,
            code=data.code,
            source=client_address(request),
        )
        return ActivationIssuedBody(
            issued.activation_id,
            group(issued.activation_code, 5),
            group(issued.device_id),
            int(issued.expires_at),
        )

    @get(
        "/activations/{activation_id:str}",
        sync_to_thread=True,
        summary="Follow an activation (HTTP Basic: the online-banking login)",
        security=[{"customer": []}],
        responses=success(
            200,
            ActivationStateBody,
            examples.ACTIVATION_COMPLETED,
            "the state; `credential_id` once completed",
        )
        | answers(
            401,
            404,
            429,
            503,
            reasons={401: LOGIN, 404: "no such activation for this customer"},
        ),
    )
    def activation_state(
        self, activation_id: FromPath[str], request: Request[Any, Any, Any], services: AppServices
    ) -> ActivationStateBody:
        """pending, completed (the token is synchronised), expired or failed."""
        customer = _customer(request, services)
        activation = services.activation.state(customer, activation_id)
        return ActivationStateBody(
            activation.id,
            activation.status,
            group(activation.device_id),
            int(activation.expires_at),
            activation.credential_id,
        )


class TokenRequestsController(Controller):
    """What only a token calls, each request signed by its key (docs/protocol.md §2).

    The guard checks the signature and spends the nonce before anything else; the four
    headers are declared as parameters so that the OpenAPI shows them."""

    path = "/api/v1"
    tags = ("enrollment",)
    guards = [token_signed]  # noqa: RUF012 - Litestar's layered attribute
    parameters = SIGNATURE_HEADERS

    @post(
        "/registrations",
        sync_to_thread=True,
        summary="Start a self-registration",
        description="Checks the online-banking password and e-mails a code to the registered "
        "address. A customer who has an active token must send `code`, a current code from "
        "it. " + SIGNED,
        status_code=HTTP_202_ACCEPTED,
        responses=success(
            202,
            RegistrationStartedBody,
            examples.REGISTRATION_STARTED,
            "the code is e-mailed to the masked address",
        )
        | answers(
            400,
            401,
            403,
            413,
            429,
            503,
            reasons={
                400: "a field is missing or malformed, or the device ID is not the one of the "
                "key that signed the request",
                401: UNSIGNED + "; or the username or password is wrong (one answer for both)",
                403: "the customer has an active token: `code` from it is missing or not "
                "correct; or this device was revoked",
                429: "too many wrong passwords for this customer or from this address, or "
                "too many registrations in the last hour; `Retry-After` says when to retry",
            },
        ),
    )
    def start_registration(
        self,
        data: Annotated[RegistrationBody, Body(examples=[_example(REGISTRATION_EXAMPLE)])],
        request: Request[Any, Any, Any],
        services: AppServices,
    ) -> RegistrationStartedBody:
        """Checks the password, e-mails a code to the registered address."""
        signed = _signed(request)
        started = services.registration.start(
            signed,
            data.username,
            data.password,
            data.device_id,
            client_address(request),
            code=data.code,
        )
        return RegistrationStartedBody(
            started.registration_id, started.masked_email, int(started.expires_at)
        )

    @post(
        "/registrations/{registration_id:str}/confirm",
        sync_to_thread=True,
        summary="Confirm with the e-mailed code: the provisioning bundle",
        description=SIGNED,
        status_code=200,
        responses=success(200, ProvisioningBundleBody, examples.BUNDLE, BUNDLE)
        | answers(
            400,
            401,
            403,
            404,
            409,
            410,
            413,
            503,
            reasons={
                400: "the code is not correct (each wrong code counts; the fifth ends the "
                "registration), or the body is malformed",
                404: "no such registration, or it was started by another token key",
                409: "this device ID is bound to another key",
                410: "the code was used already, it expired, too many wrong codes were "
                "typed, or the customer can no longer enrol: start again",
            },
        ),
    )
    def confirm_registration(
        self,
        registration_id: FromPath[str],
        data: Annotated[ConfirmBody, Body(examples=[_example({"code": "48213907"})])],
        request: Request[Any, Any, Any],
        services: AppServices,
    ) -> dict[str, Any]:
        """Returns the provisioning bundle (docs/protocol.md)."""
        signed = _signed(request)
        return services.registration.confirm(signed, registration_id, data.code)

    @post(
        "/activations/redeem",
        sync_to_thread=True,
        summary="Redeem an activation code on the token: the provisioning bundle",
        description=SIGNED,
        status_code=200,
        responses=success(200, ProvisioningBundleBody, examples.BUNDLE, BUNDLE)
        | answers(
            400,
            401,
            403,
            409,
            410,
            413,
            503,
            reasons={
                400: "the device ID or the activation code is not correct (one answer for "
                "both: a typo with a wrong check digit is not counted as a guess), or the body "
                "is malformed",
                409: "this device ID is bound to another key",
                410: "the activation expired, was used, or had too many wrong codes: start "
                "again in the portal",
            },
        ),
    )
    def redeem_activation(
        self,
        data: Annotated[RedeemBody, Body(examples=[_example(REDEEM_EXAMPLE)])],
        request: Request[Any, Any, Any],
        services: AppServices,
    ) -> dict[str, Any]:
        """Returns the provisioning bundle (docs/protocol.md)."""
        signed = _signed(request)
        return services.activation.redeem(signed, data.device_id, data.activation_code)

    @delete(
        "/credentials/{credential_id:str}",
        sync_to_thread=True,
        summary="Delete a user from the token",
        description="Retires the credential; a second DELETE of a retired credential answers "
        "204 again. " + SIGNED,
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(
            401,
            404,
            413,
            503,
            reasons={404: "no such credential, or it was provisioned to another token"},
        ),
    )
    def delete_credential(
        self, credential_id: FromPath[str], request: Request[Any, Any, Any], services: AppServices
    ) -> None:
        """Retires the credential on the server; its codes are rejected from now on."""
        signed = _signed(request)
        services.credentials.delete_by_token(signed.point, credential_id)

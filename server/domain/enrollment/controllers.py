"""The enrollment API: time, the provisioning key, registrations, activations, deletion."""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import partial
from typing import Any, cast

import anyio.to_thread
from litestar import Controller, Request, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from hsm import HsmError
from server.db.models import Customer
from server.domain.enrollment.device_id import group
from server.domain.enrollment.schemas import (
    ActivationBody,
    ActivationIssuedBody,
    ActivationStateBody,
    ConfirmBody,
    ProvisioningKeyBody,
    RedeemBody,
    RegistrationBody,
    RegistrationStartedBody,
    TimeBody,
)
from server.domain.enrollment.signing import SignedRequest, b64url, verify_request
from server.errors import NotAuthenticated, ServiceUnavailable
from server.services import Services

SIGNED = "signed token request (X-OTP-Public-Key, X-OTP-Timestamp, X-OTP-Nonce, X-OTP-Signature)"


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
    await anyio.to_thread.run_sync(services.enrollment.spend_nonce, signed)
    connection.state.signed_request = signed


def _signed(request: Request[Any, Any, Any]) -> SignedRequest:
    """The request as `token_signed` checked it."""
    signed: SignedRequest = request.state.signed_request
    return signed


async def _customer(request: Request[Any, Any, Any], services: Services) -> Customer:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    try:
        username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        username = password = ""
    if scheme.lower() != "basic" or not username:
        raise NotAuthenticated("log in with the online-banking username and password")
    return await anyio.to_thread.run_sync(
        services.enrollment.authenticate_customer,
        username,
        password,
        request.client.host if request.client else "",
    )


class EnrollmentController(Controller):
    """What the token and the portal call to get a seed onto the token."""

    path = "/api/v1"
    tags = ("enrollment",)

    @get("/time", summary="Server time, for the token's clock offset")
    async def time(self, state: State) -> TimeBody:
        """The server's Unix time in seconds."""
        services: Services = state.services
        return TimeBody(services.clock())

    @get("/provisioning-key", summary="The public key that signs provisioning bundles")
    async def provisioning_key(self, state: State) -> ProvisioningKeyBody:
        """Tokens pin this key (at first contact, or from their configuration)."""
        services: Services = state.services
        try:
            version, point = await services.hsm.run_async(services.hsm.provisioning_public_key)
        except HsmError as exc:
            raise ServiceUnavailable("the HSM cannot be used now") from exc
        return ProvisioningKeyBody(
            f"otp-provisioning-v{version}", b64url(point), hashlib.sha256(point).hexdigest()
        )

    @post(
        "/registrations",
        summary="Start a self-registration (" + SIGNED + ")",
        guards=[token_signed],
        status_code=HTTP_202_ACCEPTED,
    )
    async def start_registration(
        self, data: JSONBody[RegistrationBody], request: Request[Any, Any, Any], state: State
    ) -> RegistrationStartedBody:
        """Checks the password, e-mails a code to the registered address."""
        services: Services = state.services
        signed = _signed(request)
        started = await anyio.to_thread.run_sync(
            services.enrollment.start_registration,
            signed,
            data.username,
            data.password,
            data.device_id,
            request.client.host if request.client else "",
        )
        return RegistrationStartedBody(
            started.registration_id, started.masked_email, int(started.expires_at)
        )

    @post(
        "/registrations/{registration_id:str}/confirm",
        summary="Confirm with the e-mailed code (" + SIGNED + "): the bundle",
        guards=[token_signed],
        status_code=200,
    )
    async def confirm_registration(
        self,
        registration_id: FromPath[str],
        data: JSONBody[ConfirmBody],
        request: Request[Any, Any, Any],
        state: State,
    ) -> dict[str, Any]:
        """Returns the provisioning bundle (docs/protocol.md)."""
        services: Services = state.services
        signed = _signed(request)
        return await anyio.to_thread.run_sync(
            services.enrollment.confirm_registration, signed, registration_id, data.code
        )

    @post(
        "/activations",
        summary="Ask for an activation code (customer login)",
        status_code=HTTP_201_CREATED,
        security=[{"customer": []}],
    )
    async def create_activation(
        self, data: JSONBody[ActivationBody], request: Request[Any, Any, Any], state: State
    ) -> ActivationIssuedBody:
        """Checks the device ID's check digit; the code is shown once."""
        services: Services = state.services
        customer = await _customer(request, services)
        issued = await anyio.to_thread.run_sync(
            partial(
                services.enrollment.create_activation,
                customer,
                data.device_id,
                data.token_kind,
                code=data.code,
                source=request.client.host if request.client else "",
            )
        )
        return ActivationIssuedBody(
            issued.activation_id,
            group(issued.activation_code, 5),
            group(issued.device_id),
            int(issued.expires_at),
        )

    @get(
        "/activations/{activation_id:str}",
        summary="Follow an activation (customer login)",
        security=[{"customer": []}],
    )
    async def activation_state(
        self, activation_id: FromPath[str], request: Request[Any, Any, Any], state: State
    ) -> ActivationStateBody:
        """pending, completed (the token is synchronised), expired or failed."""
        services: Services = state.services
        customer = await _customer(request, services)
        activation = await anyio.to_thread.run_sync(
            services.enrollment.activation_state, customer, activation_id
        )
        return ActivationStateBody(
            activation.id,
            activation.status,
            group(activation.device_id),
            int(activation.expires_at),
            activation.credential_id,
        )

    @post(
        "/activations/redeem",
        summary="Redeem an activation code on the token (" + SIGNED + "): the bundle",
        guards=[token_signed],
        status_code=200,
    )
    async def redeem_activation(
        self, data: JSONBody[RedeemBody], request: Request[Any, Any, Any], state: State
    ) -> dict[str, Any]:
        """Returns the provisioning bundle (docs/protocol.md)."""
        services: Services = state.services
        signed = _signed(request)
        return await anyio.to_thread.run_sync(
            services.enrollment.redeem_activation, signed, data.device_id, data.activation_code
        )

    @delete(
        "/credentials/{credential_id:str}",
        summary="Delete a user from the token (" + SIGNED + ")",
        guards=[token_signed],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_credential(
        self, credential_id: FromPath[str], request: Request[Any, Any, Any], state: State
    ) -> None:
        """Retires the credential on the server; its codes are rejected from now on."""
        services: Services = state.services
        signed = _signed(request)
        await anyio.to_thread.run_sync(services.enrollment.delete_credential, signed, credential_id)

"""Request and response bodies of the enrollment API."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

DigitsTyped = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=40, description="digits; spaces and hyphens are ignored"),
]


class RegistrationBody(msgspec.Struct, forbid_unknown_fields=True):
    """Start a self-registration with the online-banking username and password."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    device_id: DigitsTyped
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,8}$")] | None = None
    """A code from the customer's current token: required when one is active."""


class RegistrationStartedBody(msgspec.Struct):
    registration_id: str
    masked_email: str
    expires_at: int


class ConfirmBody(msgspec.Struct, forbid_unknown_fields=True):
    """The code e-mailed to the customer."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,8}$")]


class ActivationBody(msgspec.Struct, forbid_unknown_fields=True):
    """Ask for an activation code for the device ID the token shows."""

    device_id: DigitsTyped
    token_kind: Literal["hardware", "emulator"] = "hardware"  # noqa: S105 - not a secret
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,8}$")] | None = None
    """A code from the customer's current token: required when one is active."""


class ActivationIssuedBody(msgspec.Struct):
    activation_id: str
    activation_code: str
    device_id: str
    expires_at: int


class ActivationStateBody(msgspec.Struct, omit_defaults=True):
    """`state` is pending, completed, expired or failed."""

    activation_id: str
    state: str
    device_id: str
    expires_at: int
    credential_id: str | None = None


class RedeemBody(msgspec.Struct, forbid_unknown_fields=True):
    """The activation code the portal showed, typed on the token."""

    device_id: DigitsTyped
    activation_code: DigitsTyped


class TimeBody(msgspec.Struct):
    server_time: float


class ProvisioningKeyBody(msgspec.Struct):
    """The key that signs bundles: tokens pin it at first contact."""

    key_id: str
    public_key: str
    """Base64url of the uncompressed P-256 point."""
    fingerprint: str
    """Hex SHA-256 of the point, to compare out of band."""


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error answer: the status again, the reason in words, and for a malformed body
    one entry per field (`{"message", "key", "source"}`)."""

    status_code: int
    detail: str
    extra: list[dict[str, str]] | None = None


class ProvisioningBundleBody(msgspec.Struct):
    """The provisioning bundle (docs/protocol.md §4): the seed wrapped for one token key,
    signed by the provisioning key over the canonical JSON of every other field. It
    documents the answer; the server sends the bundle as it was signed."""

    version: int
    credential_id: str
    issuer: str
    username: str
    display_name: str
    algorithm: Literal["SHA1", "SHA256", "SHA512"]
    digits: Annotated[int, msgspec.Meta(ge=6, le=8)]
    period: int
    """The TOTP time step in seconds."""
    seed_length: int
    """The seed's true length in bytes (the unwrapped key may carry zero padding)."""
    server_time: int
    device_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{16}$")]
    token_public_key: str
    """b64url of the token's point: the bundle is for this key only."""
    ephemeral_public_key: str
    """b64url of the server's one-time point (made in the HSM)."""
    wrapped_seed: str
    """b64url of the seed, RFC 5649-wrapped under the key derived by `kdf`."""
    kdf: Literal["ecdh-p256-aes256ecb-ctr"]
    wrap: Literal["aes256-kw-pad"]
    provisioning_key: str
    """Which provisioning key signed (`otp-provisioning-v1`)."""
    signature: str
    """b64url of the raw ECDSA P-256 signature `r || s` (64 bytes)."""
    ocra_suite: str | msgspec.UnsetType = msgspec.UNSET
    """The OCRA suite (RFC 6287) the credential signs transfers with; absent when the
    credential has no OCRA seed (then neither are the two fields below)."""
    ocra_wrapped_seed: str | msgspec.UnsetType = msgspec.UNSET
    """b64url of the OCRA seed, RFC 5649-wrapped under the same key as `wrapped_seed`."""
    ocra_seed_length: int | msgspec.UnsetType = msgspec.UNSET
    """The OCRA seed's true length in bytes (32)."""

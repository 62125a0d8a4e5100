"""The provisioning bundle (docs/protocol.md §4): a new seed, wrapped for one token, with
everything the token needs to show codes, and the credential's OCRA seed for signing
transfers (§6) wrapped beside it; signed by the HSM's provisioning key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hsm import Algorithm, OcraSuite, ProvisionedOcraSeed, Provisioner, WrappedSeed
from server.domain.audit.rules import canonical
from server.domain.enrollment.signing import b64url
from server.domain.verification.transfers import SUITE

BUNDLE_VERSION = 1
CONTEXT_PREFIX = b"otp-provisioning-v1\x00"


@dataclass(frozen=True)
class CredentialProfile:
    """What a provisioned credential looks like (docs/design.md §4 defaults)."""

    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 60
    ocra_suite: str | None = SUITE
    """The suite of the credential's OCRA seed (docs/protocol.md §6); None: no OCRA seed."""


@dataclass(frozen=True)
class IssuedBundle:
    """The bundle for the token, and the seed (and OCRA seed) wrapped for the database."""

    bundle: dict[str, Any]
    stored: WrappedSeed
    ocra: ProvisionedOcraSeed | None = None


def transport_context(credential_id: str) -> bytes:
    """The KDF context that binds the transport key to this credential."""
    return CONTEXT_PREFIX + credential_id.encode()


def signed_bytes(bundle: dict[str, Any]) -> bytes:
    """What the signature covers: canonical JSON of every field but `signature`."""
    return canonical({k: v for k, v in bundle.items() if k != "signature"}).encode()


def issue(
    hsm: Provisioner,
    *,
    credential_id: str,
    issuer: str,
    username: str,
    display_name: str,
    device_id: str,
    token_point: bytes,
    server_time: float,
    profile: CredentialProfile,
) -> IssuedBundle:
    """Generate the seed (and the OCRA seed the profile names) in the HSM, wrap them for
    `token_point`, sign the whole bundle."""
    provisioned = hsm.provision_seed(
        profile.algorithm,
        token_point,
        transport_context(credential_id),
        ocra_suite=None if profile.ocra_suite is None else OcraSuite.parse(profile.ocra_suite),
    )
    key_version, _ = hsm.provisioning_public_key()
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "credential_id": credential_id,
        "issuer": issuer,
        "username": username,
        "display_name": display_name,
        "algorithm": profile.algorithm.value,
        "digits": profile.digits,
        "period": profile.period,
        "seed_length": provisioned.stored.length,
        "server_time": int(server_time),
        "device_id": device_id,
        "token_public_key": b64url(token_point),
        "ephemeral_public_key": b64url(provisioned.ephemeral_point),
        "wrapped_seed": b64url(provisioned.transport_blob),
        "kdf": "ecdh-p256-aes256ecb-ctr",
        "wrap": "aes256-kw-pad",
        "provisioning_key": f"otp-provisioning-v{key_version}",
    }
    if provisioned.ocra is not None:
        bundle["ocra_suite"] = provisioned.ocra.suite.text
        bundle["ocra_wrapped_seed"] = b64url(provisioned.ocra.transport_blob)
        bundle["ocra_seed_length"] = provisioned.ocra.stored.length
    _, signature = hsm.sign_provisioning(signed_bytes(bundle), key_version)
    bundle["signature"] = b64url(signature)
    return IssuedBundle(bundle, provisioned.stored, provisioned.ocra)

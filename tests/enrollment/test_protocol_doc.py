"""docs/protocol.md is right: its test vector and worked example check out with a client
built from the page (no server involved)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.enrollment.token_client import device_id_of, open_bundle, unb64url, verhoeff_check
from tests.oracles import oathtool_totp

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
EXAMPLE = json.loads(re.search(r"```json\n(.*?)\n```", DOC, re.DOTALL).group(1))  # type: ignore[union-attr]


def test_device_id_test_vector() -> None:
    generator_key = ec.derive_private_key(1, ec.SECP256R1()).public_key()
    assert device_id_of(generator_key) == "1020584050721040"
    assert "`1020584050721040`" in DOC
    assert verhoeff_check("236") == "3"


def test_worked_example_request_signature() -> None:
    key = ec.derive_private_key(int(EXAMPLE["token_private_scalar_hex"], 16), ec.SECP256R1())
    assert device_id_of(key.public_key()) == EXAMPLE["device_id"]
    request = EXAMPLE["redeem_request"]
    headers = request["headers"]
    signing_input = "\n".join(
        [
            "otp-token-request-v1",
            request["method"],
            request["path"],
            headers["X-OTP-Timestamp"],
            headers["X-OTP-Nonce"],
            hashlib.sha256(request["body"].encode()).hexdigest(),
        ]
    ).encode()
    key.public_key().verify(
        unb64url(headers["X-OTP-Signature"]), signing_input, ec.ECDSA(hashes.SHA256())
    )


def test_worked_example_bundle_opens_to_the_seed_and_code() -> None:
    key = ec.derive_private_key(int(EXAMPLE["token_private_scalar_hex"], 16), ec.SECP256R1())
    bundle = EXAMPLE["bundle"]
    seed = open_bundle(bundle, key, unb64url(EXAMPLE["provisioning_public_key"]))
    assert seed.hex() == EXAMPLE["seed_hex"]
    assert (
        oathtool_totp(seed, "SHA1", 6, 60, bundle["server_time"])
        == (EXAMPLE["code_at_server_time"])
    )

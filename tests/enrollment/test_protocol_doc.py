"""docs/protocol.md is right: its test vector and worked example check out with a client
built from the page (no server involved)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.enrollment.token_client import (
    device_id_of,
    open_bundle,
    open_bundle_seeds,
    unb64url,
    verhoeff_check,
)
from tests.oracles import oath_ocra, oathtool_totp

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


def test_worked_example_bundle_opens_to_the_ocra_seed_and_its_response() -> None:
    key = ec.derive_private_key(int(EXAMPLE["token_private_scalar_hex"], 16), ec.SECP256R1())
    bundle = EXAMPLE["bundle"]
    seed, ocra_seed = open_bundle_seeds(bundle, key, unb64url(EXAMPLE["provisioning_public_key"]))
    assert ocra_seed is not None
    assert ocra_seed.hex() == EXAMPLE["ocra_seed_hex"] and len(ocra_seed) == 32
    assert ocra_seed != seed
    assert bundle["ocra_suite"] == "OCRA-1:HOTP-SHA256-8:QA20-T1M"
    response = oath_ocra(
        bundle["ocra_suite"],
        ocra_seed,
        EXAMPLE["ocra_question"],
        time_step=bundle["server_time"] // 60,
    )
    assert response == EXAMPLE["ocra_response_at_server_time"]


def test_the_known_answer_of_section_4_is_the_worked_example_s() -> None:
    """§4's table: `K` by steps 1-3 from the example, its seeds, and the blobs the example
    carries (SoftHSM wraps the 20-byte seed with 4 zero bytes, the 32-byte one as it is)."""

    def row(name: str) -> bytes:
        found = re.search(rf"^\| {re.escape(name)} \| `([0-9a-f]+)` \|$", DOC, re.MULTILINE)
        assert found is not None, name
        return bytes.fromhex(found.group(1))

    key = ec.derive_private_key(int(EXAMPLE["token_private_scalar_hex"], 16), ec.SECP256R1())
    bundle = EXAMPLE["bundle"]
    ephemeral = unb64url(bundle["ephemeral_public_key"])
    z = key.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral)
    )
    context = b"otp-provisioning-v1\x00" + bundle["credential_id"].encode()
    h = hashlib.sha256(context + unb64url(bundle["token_public_key"]) + ephemeral).digest()
    encryptor = Cipher(algorithms.AES(z), modes.ECB()).encryptor()  # noqa: S305 - KDF blocks
    k = encryptor.update(h[:15] + b"\x01" + h[:15] + b"\x02") + encryptor.finalize()
    assert row("`K`") == k
    assert row("seed (`seed_length` 20)").hex() == EXAMPLE["seed_hex"]
    assert row("`wrapped_seed`, seed + 4 zero bytes") == unb64url(bundle["wrapped_seed"])
    assert row("OCRA seed (`ocra_seed_length` 32)").hex() == EXAMPLE["ocra_seed_hex"]
    assert row("`ocra_wrapped_seed`") == unb64url(bundle["ocra_wrapped_seed"])

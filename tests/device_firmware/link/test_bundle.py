"""Bundle checks (protocol §4): the worked example of docs/protocol.md opens to its seed, and
a changed byte, another token's bundle, or a key other than the pinned one is refused."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device_firmware.core import BundleRejected, device_id, transfers
from device_firmware.link import bundle as bundles
from device_firmware.link.signing import from_b64url, signed_headers, signing_input
from device_firmware.link.token_key import point_of
from device_firmware.vault import DeviceIdentity
from tests.device_firmware.link.conftest import LinkRig, make_link_rig
from tests.device_firmware.link.mock_bank import MockBank, b64url
from tests.oracles import oath_ocra, oathtool_totp

DOC = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text()
EXAMPLE: dict[str, Any] = json.loads(
    re.search(r"```json\n(.*?)\n```", DOC, re.DOTALL).group(1)  # type: ignore[union-attr]
)


def example_key() -> DeviceIdentity:
    scalar = int(EXAMPLE["token_private_scalar_hex"], 16)
    return DeviceIdentity(ec.derive_private_key(scalar, ec.SECP256R1()))


def test_the_worked_example_opens_to_its_seed_and_code() -> None:
    key = example_key()
    assert device_id.make(key.public_key_der) == EXAMPLE["device_id"]
    pinned = from_b64url(EXAMPLE["provisioning_public_key"])
    credential = bundles.open_bundle(EXAMPLE["bundle"], key, pinned)
    assert credential.seed.hex() == EXAMPLE["seed_hex"]
    assert credential.ocra_seed is not None and credential.signs_transfers
    assert credential.ocra_seed.hex() == EXAMPLE["ocra_seed_hex"]
    assert (credential.username, credential.display_name) == ("ana.perez", "Ana Pérez")
    time = EXAMPLE["bundle"]["server_time"]
    assert oathtool_totp(credential.seed, "SHA1", 6, 60, time) == EXAMPLE["code_at_server_time"]
    transfer = transfers.response_at(credential.ocra_seed, 125_000, "00054321", time)
    assert transfers.question(125_000, "00054321") == EXAMPLE["ocra_question"]
    assert transfer == EXAMPLE["ocra_response_at_server_time"]
    assert (
        oath_ocra(
            transfers.SUITE,
            credential.ocra_seed,
            EXAMPLE["ocra_question"],
            time_step=int(time // 60),
        )
        == transfer
    )


def test_the_worked_example_request_matches_our_signing_input() -> None:
    key = example_key()
    request = EXAMPLE["redeem_request"]
    headers = request["headers"]
    message = signing_input(
        request["method"],
        request["path"],
        headers["X-OTP-Timestamp"],
        headers["X-OTP-Nonce"],
        request["body"].encode(),
    )
    public = serialization.load_der_public_key(key.public_key_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(from_b64url(headers["X-OTP-Signature"]), message, ec.ECDSA(hashes.SHA256()))
    ours = signed_headers(
        key,
        point_of(key.public_key_der),
        "POST",
        request["path"],
        request["body"].encode(),
        int(headers["X-OTP-Timestamp"]),
        nonce=headers["X-OTP-Nonce"],
    )
    assert ours["X-OTP-Public-Key"] == headers["X-OTP-Public-Key"]
    public.verify(from_b64url(ours["X-OTP-Signature"]), message, ec.ECDSA(hashes.SHA256()))


def _example_variant(name: str) -> dict[str, Any]:
    """The example bundle with one character of `name` changed (an integer: plus one)."""
    bundle = dict(EXAMPLE["bundle"])
    value = bundle[name]
    if isinstance(value, int):
        bundle[name] = value + 1
    else:
        middle = len(value) // 2
        changed = "B" if value[middle] == "A" else "A"
        bundle[name] = value[:middle] + changed + value[middle + 1 :]
    return bundle


@pytest.mark.parametrize("name", sorted(EXAMPLE["bundle"]))
def test_a_changed_character_in_any_field_is_refused(name: str) -> None:
    pinned = from_b64url(EXAMPLE["provisioning_public_key"])
    with pytest.raises(BundleRejected):
        bundles.open_bundle(_example_variant(name), example_key(), pinned)


def test_a_flipped_bit_anywhere_in_the_answer_is_refused() -> None:
    pinned = from_b64url(EXAMPLE["provisioning_public_key"])
    key = example_key()
    body = bundles.canonical(EXAMPLE["bundle"])
    assert bundles.open_bundle(bundles.parse(body), key, pinned).seed.hex() == EXAMPLE["seed_hex"]
    for index in range(len(body)):
        changed = bytearray(body)
        changed[index] ^= 0x01
        with pytest.raises(BundleRejected):
            bundles.open_bundle(bundles.parse(bytes(changed)), key, pinned)


def test_an_added_field_or_a_missing_one_is_refused() -> None:
    pinned = from_b64url(EXAMPLE["provisioning_public_key"])
    added = dict(EXAMPLE["bundle"]) | {"note": "x"}
    missing = {k: v for k, v in EXAMPLE["bundle"].items() if k != "issuer"}
    for variant in (added, missing):
        with pytest.raises(BundleRejected, match="does not verify"):
            bundles.open_bundle(variant, example_key(), pinned)


def test_the_example_is_refused_under_another_pinned_key() -> None:
    other = point_of(DeviceIdentity.generate().public_key_der)
    with pytest.raises(BundleRejected, match="pinned provisioning key"):
        bundles.open_bundle(EXAMPLE["bundle"], example_key(), other)


def test_the_example_is_refused_by_another_token() -> None:
    pinned = from_b64url(EXAMPLE["provisioning_public_key"])
    with pytest.raises(BundleRejected, match="another token"):
        bundles.open_bundle(EXAMPLE["bundle"], DeviceIdentity.generate(), pinned)


# Through the link, with bundles the mock bank signs properly ------------------------------


def test_a_bundle_for_another_tokens_key_is_refused(link_rig: LinkRig) -> None:
    other = DeviceIdentity.generate()
    loaded = serialization.load_der_public_key(other.public_key_der)
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    link_rig.bank.addressee = loaded  # well signed, but wrapped for the other token
    with pytest.raises(BundleRejected, match="another token"):
        link_rig.register()


def test_a_bundle_naming_another_device_id_is_refused(link_rig: LinkRig) -> None:
    def other_device(bundle: dict[str, Any]) -> None:
        bundle["device_id"] = device_id.make(DeviceIdentity.generate().public_key_der)
        _resign(link_rig.bank, bundle)

    link_rig.bank.tamper = other_device
    with pytest.raises(BundleRejected, match="another device ID"):
        link_rig.register()


def test_a_bundle_signed_by_a_key_that_was_not_pinned_is_refused(link_rig: LinkRig) -> None:
    link_rig.bank.bundle_signer = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BundleRejected, match="does not verify under the pinned"):
        link_rig.register()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": 2}, "version"),
        ({"kdf": "hkdf-sha256"}, "key derivation"),
        ({"algorithm": "MD5"}, "not acceptable"),
        ({"digits": 9}, "not acceptable"),
        ({"seed_length": 99}, "seed_length"),
        ({"seed_length": 8}, "not acceptable"),
        ({"wrapped_seed": b64url(b"\x00" * 32)}, "does not unwrap"),
        ({"ephemeral_public_key": b64url(b"\x04" + b"\x01" * 64)}, "one-time public key"),
        ({"digits": "6"}, "not an integer"),
        ({"credential_id": "cred_ñ"}, "not ASCII"),
    ],
)
def test_well_signed_bundles_this_token_cannot_use_are_refused(
    link_rig: LinkRig, change: dict[str, Any], words: str
) -> None:
    def apply(bundle: dict[str, Any]) -> None:
        bundle.update(change)
        _resign(link_rig.bank, bundle)

    link_rig.bank.tamper = apply
    with pytest.raises(BundleRejected, match=words):
        link_rig.register()


# Transaction signing: the OCRA seed beside the seed ---------------------------------------


def test_a_bundle_with_an_ocra_seed_opens_to_both_seeds(link_rig: LinkRig) -> None:
    link_rig.bank.signs_transfers = True
    credential = link_rig.register().credential
    assert credential.seed == link_rig.bank.seeds[credential.credential_id]
    assert credential.ocra_seed == link_rig.bank.ocra_seeds[credential.credential_id]
    assert credential.ocra_suite == transfers.SUITE and credential.signs_transfers
    assert len(credential.ocra_seed) == 32 and credential.ocra_seed != credential.seed
    t = 1_796_117_400
    expected = oath_ocra(transfers.SUITE, credential.ocra_seed, "00000012500000054321",
                         time_step=t // 60)  # fmt: skip
    assert transfers.response_at(credential.ocra_seed, 125_000, "00054321", t) == expected


@pytest.mark.parametrize(
    "kept",
    [
        ("ocra_suite",),
        ("ocra_wrapped_seed",),
        ("ocra_seed_length",),
        ("ocra_suite", "ocra_wrapped_seed"),
        ("ocra_suite", "ocra_seed_length"),
        ("ocra_wrapped_seed", "ocra_seed_length"),
    ],
)
def test_a_bundle_with_only_some_ocra_fields_is_refused(
    link_rig: LinkRig, kept: tuple[str, ...]
) -> None:
    def drop_the_others(bundle: dict[str, Any]) -> None:
        for name in bundles.OCRA_FIELDS:
            if name not in kept:
                del bundle[name]
        _resign(link_rig.bank, bundle)

    link_rig.bank.signs_transfers = True
    link_rig.bank.tamper = drop_the_others
    with pytest.raises(BundleRejected, match="OCRA seed comes without"):
        link_rig.register()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"ocra_suite": "OCRA-1:HOTP-SHA1-6:QN08"}, "not one this token computes"),
        ({"ocra_suite": "OCRA-1:HOTP-SHA256-8:QA20-T1M "}, "not one this token computes"),
        ({"ocra_suite": 1}, "ocra_suite is missing or not text"),
        ({"ocra_seed_length": 99}, "seed_length"),
        ({"ocra_seed_length": 8}, "not acceptable"),
        ({"ocra_seed_length": "32"}, "not an integer"),
        ({"ocra_wrapped_seed": b64url(b"\x00" * 40)}, "does not unwrap"),
        ({"ocra_wrapped_seed": "not base64!"}, "not base64url"),
    ],
)
def test_well_signed_ocra_fields_this_token_cannot_use_are_refused(
    link_rig: LinkRig, change: dict[str, Any], words: str
) -> None:
    def apply(bundle: dict[str, Any]) -> None:
        bundle.update(change)
        _resign(link_rig.bank, bundle)

    link_rig.bank.signs_transfers = True
    link_rig.bank.tamper = apply
    with pytest.raises(BundleRejected, match=words):
        link_rig.register()


def test_an_ocra_seed_is_wrapped_under_the_bundles_own_transport_key(link_rig: LinkRig) -> None:
    """The OCRA seed of one bundle moved into another (same token) does not unwrap there."""
    link_rig.bank.signs_transfers = True
    first: dict[str, Any] = {}

    def keep_or_swap(bundle: dict[str, Any]) -> None:
        if not first:
            first.update(bundle)
            return
        bundle["ocra_wrapped_seed"] = first["ocra_wrapped_seed"]
        _resign(link_rig.bank, bundle)

    link_rig.bank.tamper = keep_or_swap
    link_rig.register()
    with pytest.raises(BundleRejected, match="does not unwrap"):
        link_rig.register("beto", "s3cret")


def test_a_bundle_with_a_duplicate_key_is_refused() -> None:
    with pytest.raises(BundleRejected):
        bundles.parse(b'{"version": 1, "version": 2}')
    with pytest.raises(BundleRejected):
        bundles.parse(b"[1, 2]")


def test_the_pin_is_taken_before_the_first_bundle(tmp_path: Path) -> None:
    rig = make_link_rig(tmp_path / "token")
    rig.register()
    paths = [r.url.path for r in rig.bank.requests]
    assert paths.index("/api/v1/provisioning-key") < paths.index("/api/v1/registrations")
    fingerprint = hashlib.sha256(rig.bank.published_key).hexdigest()
    assert fingerprint in (rig.vault.directory / "provisioning-key.json").read_text()


def _resign(bank: MockBank, bundle: dict[str, Any]) -> None:
    """Sign `bundle` again with the bank's key after a change (a bank that means it)."""
    from cryptography.hazmat.primitives.asymmetric import utils

    bundle.pop("signature", None)
    der = bank.provisioning.sign(bundles.canonical(bundle), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    bundle["signature"] = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

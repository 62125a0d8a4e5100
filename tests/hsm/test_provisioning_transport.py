"""A provisioning bundle's seed opens on the token the same way whichever module made it
(RFC 5649 on both: docs/protocol.md, "Seed wrapping: one format on every HSM")."""

from __future__ import annotations

import base64
import hashlib

import pyotp

from device_firmware.link.bundle import recover_seed
from device_firmware.link.token_key import point_of
from device_firmware.vault.identity import DeviceIdentity
from hsm import Algorithm, Hsm, OcraInput, OcraSuite
from hsm.otp import totp_counter
from server.domain.verification.transfers import SUITE
from tests.oracles import oath_ocra


def test_the_token_opens_the_seed_and_its_codes_are_the_hsms(hsm: Hsm) -> None:
    identity = DeviceIdentity.generate()
    point = point_of(identity.public_key_der)
    credential_id = "cred_transport_test"
    context = b"otp-provisioning-v1\x00" + credential_id.encode()
    for algorithm in Algorithm:
        made = hsm.provision_seed(algorithm, point, context)
        seed = recover_seed(
            identity,
            credential_id,
            point,
            made.ephemeral_point,
            made.transport_blob,
            algorithm.seed_length,
        )
        assert len(seed) == algorithm.seed_length
        at = 1_800_000_000
        digest = getattr(hashlib, algorithm.value.lower())
        expected = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60, digest=digest).at(at)
        counter = totp_counter(at, 60)
        assert hsm.otp_values(made.stored, algorithm, 6, [counter]) == [expected]


def test_the_ocra_seed_travels_beside_the_totp_seed_under_the_same_transport_key(
    hsm: Hsm,
) -> None:
    """The token recovers the OCRA seed exactly as the TOTP seed (docs/protocol.md §4),
    and its responses are python-oath's and the HSM's over the stored blob."""
    identity = DeviceIdentity.generate()
    point = point_of(identity.public_key_der)
    credential_id = "cred_transport_ocra"
    context = b"otp-provisioning-v1\x00" + credential_id.encode()
    suite = OcraSuite.parse(SUITE)
    made = hsm.provision_seed(Algorithm.SHA1, point, context, ocra_suite=suite)
    assert made.ocra is not None
    assert made.ocra.suite == suite
    assert made.ocra.stored.kek_version == made.stored.kek_version
    assert made.ocra.stored.length == 32
    assert made.ocra.stored.blob != made.stored.blob

    def recover(blob: bytes, length: int) -> bytes:
        return recover_seed(identity, credential_id, point, made.ephemeral_point, blob, length)

    seed = recover(made.transport_blob, made.stored.length)
    ocra_seed = recover(made.ocra.transport_blob, made.ocra.stored.length)
    assert len(ocra_seed) == 32
    assert ocra_seed != seed and ocra_seed[:20] != seed
    given = OcraInput("00000012500000054321", time_step=suite.time_step_at(1_796_117_400))
    expected = oath_ocra(SUITE, ocra_seed, given.question, time_step=given.time_step)
    assert hsm.ocra_responses(made.ocra.stored, suite, [given]) == [expected]


def test_without_a_suite_no_ocra_seed_is_made(hsm: Hsm) -> None:
    point = point_of(DeviceIdentity.generate().public_key_der)
    made = hsm.provision_seed(Algorithm.SHA256, point, b"otp-provisioning-v1\x00cred_x")
    assert made.ocra is None

"""A provisioning bundle's seed opens on the token the same way whichever module made it
(RFC 5649 on both: docs/protocol.md, "Seed wrapping: one format on every HSM")."""

from __future__ import annotations

import base64
import hashlib

import pyotp

from device_firmware.link.bundle import recover_seed
from device_firmware.link.token_key import point_of
from device_firmware.vault.identity import DeviceIdentity
from hsm import Algorithm, Hsm
from hsm.otp import totp_counter


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

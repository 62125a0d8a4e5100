"""The success answers the OpenAPI shows, one per operation: the worked example of
docs/protocol.md §5 (the customer `ana.perez` activates the token `0203 6678 0170 0878`).

`tests/enrollment/test_openapi_examples.py` keeps them true: each validates against its
operation's response schema, has the shape of what a real call answers, and the bundle, the
provisioning key, the device ID and the activation code are the ones of the worked example."""

from __future__ import annotations

from typing import Any, Final

SERVER_TIME: Final = 1796679665
CREDENTIAL_ID: Final = "cred_1ceefb19e61cb7e76912"
DEVICE_ID: Final = "0203667801700878"
ACTIVATION_ID: Final = "act_5d0c2b9e8f41a7c3e6b29d10"

TIME: dict[str, Any] = {"server_time": SERVER_TIME - 0.875}
PROVISIONING_KEY: dict[str, Any] = {
    "key_id": "otp-provisioning-v1",
    "public_key": (
        "BDmrzTPd96eqBIywxC-JtmlUlgC0wR6qh6Gk0ggOj3S-4JziHrKyhO9R0A41zkq20uD94XRiU1t_nwRVkqodgTc"
    ),
    "fingerprint": "51fe2b8733031f333a31548d1a4d6956b306a308b08fdcb079b6a8f7ae92ce17",
}
ACTIVATION_ISSUED: dict[str, Any] = {
    "activation_id": ACTIVATION_ID,
    "activation_code": "18399 97830",
    "device_id": "0203 6678 0170 0878",
    "expires_at": SERVER_TIME + 540,
}
ACTIVATION_COMPLETED: dict[str, Any] = {
    "activation_id": ACTIVATION_ID,
    "state": "completed",
    "device_id": "0203 6678 0170 0878",
    "expires_at": SERVER_TIME + 540,
    "credential_id": CREDENTIAL_ID,
}
REGISTRATION_STARTED: dict[str, Any] = {
    "registration_id": "reg_9a3e71c04b58d2f6a1e0c7b3",
    "masked_email": "a***@example.com",
    "expires_at": SERVER_TIME + 600,
}
BUNDLE: dict[str, Any] = {
    "version": 1,
    "credential_id": CREDENTIAL_ID,
    "issuer": "Banco Demo",
    "username": "ana.perez",
    "display_name": "Ana Pérez",
    "algorithm": "SHA1",
    "digits": 6,
    "period": 60,
    "seed_length": 20,
    "server_time": SERVER_TIME,
    "device_id": DEVICE_ID,
    "token_public_key": (
        "BOSIE-ZWIZtAkMKCoCD0Dge04e_WCj3RdJKhZnxXWO5bdg-bmxyEC09PY6tAQ8BTfKKbNRLDLlDlb15OjULQ0x4"
    ),
    "ephemeral_public_key": (
        "BPzg-uYxnubunaRCJd94L4rl6pd-DVsBUGD90y67RFeoplkbaL9IwJIthlHEEYfS0IdDxVnR4Wl_oIZIm73Z5IU"
    ),
    "wrapped_seed": "Bb1KF67qUJJvVhp4uORDGmCwpTg656qQ3u-JYXMIZxc",
    "kdf": "ecdh-p256-aes256ecb-ctr",
    "wrap": "aes256-kw-pad",
    "provisioning_key": "otp-provisioning-v1",
    "ocra_suite": "OCRA-1:HOTP-SHA256-8:QA20-T1M",
    "ocra_wrapped_seed": "MoQbyy3GMd649nD0DXwAqi3coFvzXk0dbCTlYTffsuv1hCwXkpblYA",
    "ocra_seed_length": 32,
    "signature": (
        "e3WiOh45CN1bzTzQwdCN36RskWxEcBexeGnkE9nRMfV_u8Ra-VqRf1o9lkpsQUdEqOG0TWRstrD1Nk_xDCyYDw"
    ),
}

"""The success answers the OpenAPI shows, one per operation: the worked example of
docs/protocol.md §5 (the customer `ana.perez` activates the token `0203 6678 0170 0878`).

`tests/enrollment/test_openapi_examples.py` keeps them true: each validates against its
operation's response schema, has the shape of what a real call answers, and the bundle, the
provisioning key, the device ID and the activation code are the ones of the worked example."""

from __future__ import annotations

from typing import Any, Final

SERVER_TIME: Final = 1795315387
CREDENTIAL_ID: Final = "cred_1ceefb19e61cb7e76912"
DEVICE_ID: Final = "0203667801700878"
ACTIVATION_ID: Final = "act_5d0c2b9e8f41a7c3e6b29d10"

TIME: dict[str, Any] = {"server_time": SERVER_TIME - 0.875}
PROVISIONING_KEY: dict[str, Any] = {
    "key_id": "otp-provisioning-v1",
    "public_key": (
        "BJa_wQJ7JeBsMr3DWFGdflKRbwte8TA21qh3EJTe4M4bOr859-J1Q-c281-2ClM-UTJTir0Pujj7rmMgG43UewA"
    ),
    "fingerprint": "da42b5a760c1909b143b333d5067802cbc516cb2b0076b1e777b656ee00eb2ed",
}
ACTIVATION_ISSUED: dict[str, Any] = {
    "activation_id": ACTIVATION_ID,
    "activation_code": "94905 18647",
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
        "BJH0WyrrgmNmVG6R3ys1ooJfwQWRXVnyRwR4iWgKGEWlAqHWkK-bjp5SfnYteXqir-Bkv-ECQRBj0ECJGnvJmXI"
    ),
    "wrapped_seed": "3SBag0k_BCmvKFGKe7Zn76G4-4z0u57cz_I2iCGL9yk",
    "kdf": "ecdh-p256-aes256ecb-ctr",
    "wrap": "aes256-kw-pad",
    "provisioning_key": "otp-provisioning-v1",
    "signature": (
        "m3c1LofHhz8zIzlo4uCISShgDIOjZc86TQ4NFdqRglruCq9U3591NE0DxCbvvvk-j7qniFhg_fJt0OigYEL4Ww"
    ),
}

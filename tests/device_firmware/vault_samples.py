"""Sample vault contents, tiny KDF costs and a vault of the old format, for the vault tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from device_firmware.core import transfers
from device_firmware.core.records import Algorithm, Credential, TokenData
from device_firmware.vault import Argon2Cost, ScryptCost

# tests only: the calibrated default costs about a second per unlock
TINY_COST = Argon2Cost(memory_kib=8, iterations=1, lanes=1)
TINY_SCRYPT = ScryptCost(log2_n=4, r=1, p=1)
PIN = "2580"
VAULT_V1 = Path(__file__).parents[1] / "vectors" / "token-vault-v1-scrypt.bin"
"""A format-1 ``vault.bin`` as the firmware wrote it before Argon2id (commit dab13ee):
``FileVault(dir, kdf_cost=KdfCost(log2_n=4, r=1, p=1)).create(PIN, sample_data(2))``."""


def sample_data(users: int = 2, offset: float = 3.5) -> TokenData:
    credentials = tuple(
        Credential(
            credential_id=f"cred-{i}",
            issuer="Banco Improsa",
            username=f"user{i}",
            display_name=f"Usuario Ñandú {i}",
            seed=bytes(range(i, i + 20)),
            algorithm=Algorithm.SHA256 if i % 2 else Algorithm.SHA1,
            digits=6 + i % 3,
            period=60,
        )
        for i in range(users)
    )
    return TokenData(credentials, clock_offset=offset)


def signing_data(users: int = 2) -> TokenData:
    """`sample_data(users)` where every other user (the first, the third...) signs transfers."""
    data = sample_data(users)
    credentials = tuple(
        replace(c, ocra_suite=transfers.SUITE, ocra_seed=bytes(range(100 + i, 132 + i)))
        if i % 2 == 0
        else c
        for i, c in enumerate(data.credentials)
    )
    return replace(data, credentials=credentials)

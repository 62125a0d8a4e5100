"""Sample vault contents and a tiny scrypt cost, shared by the vault tests."""

from __future__ import annotations

from device_firmware.core.records import Algorithm, Credential, TokenData
from device_firmware.vault import KdfCost

TINY_COST = KdfCost(log2_n=4, r=1, p=1)  # tests only: the default costs ~0.1 s per unlock
PIN = "2580"


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

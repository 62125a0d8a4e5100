"""The token's TPM vault: unlocking it, against one TPM unseal and one file-vault KDF.

`TpmVault.unlock(PIN)` on a software TPM (swtpm, started here in a temporary directory):
the attempt counter read from and written to TPM NV, the data key unsealed with the PIN
through a salted HMAC session (the TPM checks the PIN and counts a failure), the counter
reset, the contents decrypted (AES-256-GCM). Baselines, same run: one bare TPM unseal (the
PIN check itself), and `FileVault.unlock(PIN)` at the file vault's default cost (Argon2id,
calibrated to about a second on this machine) with one such derivation alone.

What the ratios mean: the TPM vault's unlock is a handful of TPM commands, so it costs
milliseconds where the file vault must spend a second of deliberate KDF work on every unlock
and still gives a thief with the SD card an offline search. On a Pi the TPM is a real chip on
SPI (an SLB 9670 takes tens of milliseconds per command, its NV writes more), so expect
roughly 0.1-0.3 s per unlock there: still below the file vault's calibrated second.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.timing import measure, measure_each
from device_firmware.core import Credential, TokenData
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.vault import Argon2Cost, FileVault, default_argon2_cost
from device_firmware.vault.tpm import LockoutPolicy, Tpm
from device_firmware.vault.tpm_vault import TpmVault

PIN = "2580"


def _data() -> TokenData:
    credentials = tuple(
        Credential(
            credential_id=f"c{i}",
            issuer="Banco",
            username=f"user{i}",
            display_name=f"User {i}",
            seed=bytes(range(i, i + 20)),
        )
        for i in range(3)
    )
    return TokenData(credentials)


def run(seconds: float, *, argon2: Argon2Cost | None = None) -> list[str]:
    """Time TPM-vault unlocks and a bare unseal; file-vault unlocks and one Argon2id.

    Args:
        seconds: per timed round.
        argon2: the file vault's cost (default: the calibrated default; tests pass a cheap one).
    """
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        software_tpm = SoftwareTpm(root / "swtpm")
        software_tpm.start()
        try:
            tpm = Tpm(software_tpm.tcti)
            vault = TpmVault(root / "tpm-sd", tpm, lockout=LockoutPolicy())
            vault.create(PIN, _data())
            unseal = measure("one TPM unseal with the PIN (baseline)", lambda _: tpm.unseal(PIN),
                             seconds=seconds)  # fmt: skip
            tpm_unlock = measure("TpmVault.unlock (swtpm)", lambda _: vault.unlock(PIN),
                                 seconds=seconds)  # fmt: skip
        finally:
            software_tpm.stop()
        cost = argon2 or default_argon2_cost()
        file_vault = FileVault(root / "file-sd", kdf_cost=cost)
        file_vault.create(PIN, _data())
        rounds = max(3, int(seconds * 3))
        kdf = measure_each(
            "one Argon2id derivation at that cost",
            lambda: cost.derive(PIN, bytes(16)),
            seconds=0,
            rounds=rounds,
        )
        file_unlock = measure_each(
            "FileVault.unlock at that cost",
            lambda: file_vault.unlock(PIN),
            seconds=0,
            rounds=rounds,
        )
    return [
        unseal.line(),
        tpm_unlock.line(unseal),
        kdf.line(),
        file_unlock.line(kdf),
        f"{'TpmVault.unlock against FileVault.unlock':<52} {'':>13} "
        f"ratio {tpm_unlock.per_second / file_unlock.per_second:8.1f}",
        f"unlock: TPM vault {1000 / tpm_unlock.per_second:.1f} ms (one unseal "
        f"{1000 / unseal.per_second:.1f} ms); file vault {1000 / file_unlock.per_second:.0f} ms "
        f"(one Argon2id {1000 / kdf.per_second:.0f} ms, {_cost(cost)})",
    ]


def _cost(cost: Argon2Cost) -> str:
    return f"m={cost.memory_kib // 1024} MiB t={cost.iterations} p={cost.lanes}"

"""`benchmarks/tpm_vault.py` runs on a software TPM and reports its figures as ratios."""

from __future__ import annotations

import pytest

from benchmarks import tpm_vault
from device_firmware.vault import Argon2Cost


@pytest.mark.slow  # ~5 s of timed rounds: `make test` runs it, a plain `pytest` not
def test_the_tpm_vault_benchmark_reports_unlocks_against_their_baselines() -> None:
    lines = tpm_vault.run(0.05, argon2=Argon2Cost(memory_kib=1024, iterations=1))
    assert lines[0].startswith("one TPM unseal with the PIN (baseline)")
    assert lines[1].startswith("TpmVault.unlock (swtpm)") and "ratio" in lines[1]
    assert lines[3].startswith("FileVault.unlock at that cost") and "ratio" in lines[3]
    assert "TpmVault.unlock against FileVault.unlock" in lines[4]
    assert lines[5].startswith("unlock: TPM vault ") and "m=1 MiB t=1 p=1" in lines[5]

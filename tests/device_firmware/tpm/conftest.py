"""Fixtures for the TPM vault: vaults on the test's software TPM (`swtpm`, one level up)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.vault.tpm import LockoutPolicy, Tpm
from device_firmware.vault.tpm_vault import TpmVault

# small enough to watch the TPM lock out within a test
TEST_LOCKOUT = LockoutPolicy(max_tries=4, recovery_seconds=3600, lockout_recovery_seconds=3600)

MakeTpmVault = Callable[..., TpmVault]


@pytest.fixture
def make_tpm_vault(swtpm: SoftwareTpm, tmp_path: Path) -> MakeTpmVault:
    """`make(attempts_allowed=1, directory=...)`: a `TpmVault` on the test's swtpm."""

    def make(attempts_allowed: int = 1, directory: Path | None = None) -> TpmVault:
        return TpmVault(
            directory or tmp_path / "sd-card",
            Tpm(swtpm.tcti),
            attempts_allowed=attempts_allowed,
            lockout=TEST_LOCKOUT,
        )

    return make

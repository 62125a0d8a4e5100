"""The `Vault` port's rules, checked on the real `FileVault`, the `TpmVault` (on a software
TPM) and the `FakeVault` alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from device_firmware.core import (
    Language,
    Vault,
    VaultStateError,
    VaultWiped,
    WrongPin,
)
from device_firmware.core.fakes import FakeVault
from device_firmware.vault import FileVault
from device_firmware.vault.tpm import Tpm
from device_firmware.vault.tpm_vault import TpmVault
from tests.device_firmware.vault_samples import PIN, TINY_COST, sample_data

MakeVault = Callable[..., Vault]


@pytest.fixture(params=["fake", "file", "tpm"])
def make_vault(request: pytest.FixtureRequest, tmp_path: Path) -> MakeVault:
    tpm = Tpm(request.getfixturevalue("swtpm").tcti) if request.param == "tpm" else None

    def make(attempts_allowed: int = 1) -> Vault:
        if request.param == "fake":
            return FakeVault(attempts_allowed=attempts_allowed)
        if tpm is not None:
            return TpmVault(tmp_path / "vault", tpm, attempts_allowed=attempts_allowed)
        return FileVault(tmp_path / "vault", attempts_allowed=attempts_allowed, kdf_cost=TINY_COST)

    return make


def test_a_new_vault_does_not_exist_but_has_an_identity(make_vault: MakeVault) -> None:
    vault = make_vault()
    status = vault.status()
    assert (status.exists, status.attempts_used, status.attempts_remaining) == (False, 0, 1)
    assert status.language is Language.ES
    assert vault.public_key() == vault.public_key()
    assert len(vault.public_key()) > 32


def test_create_save_lock_unlock(make_vault: MakeVault) -> None:
    vault = make_vault()
    vault.create(PIN, sample_data(1))
    assert vault.status().exists
    vault.save(sample_data(3))
    vault.lock()
    with pytest.raises(VaultStateError):
        vault.save(sample_data(1))
    assert vault.unlock(PIN) == sample_data(3)
    vault.save(sample_data(0))
    vault.lock()
    assert vault.unlock(PIN) == sample_data(0)


def test_misuse_is_a_state_error(make_vault: MakeVault) -> None:
    vault = make_vault()
    with pytest.raises(VaultStateError):
        vault.unlock(PIN)
    with pytest.raises(VaultStateError):
        vault.save(sample_data())
    vault.create(PIN, sample_data())
    with pytest.raises(VaultStateError):
        vault.create(PIN, sample_data())


def test_wrong_pins_count_down_then_wipe(make_vault: MakeVault) -> None:
    vault = make_vault(attempts_allowed=3)
    vault.create(PIN, sample_data())
    vault.set_language(Language.EN)
    vault.lock()
    old_key = vault.public_key()
    with pytest.raises(WrongPin) as first:
        vault.unlock("0000")
    assert first.value.attempts_remaining == 2
    assert vault.status().attempts_used == 1
    with pytest.raises(WrongPin) as second:
        vault.unlock("1111")
    assert second.value.attempts_remaining == 1
    assert vault.status().attempts_remaining == 1
    with pytest.raises(VaultWiped):
        vault.unlock("2222")
    status = vault.status()
    assert (status.exists, status.attempts_used) == (False, 0)
    assert status.language is Language.EN  # the language survives the wipe
    assert vault.public_key() != old_key
    with pytest.raises(VaultStateError):
        vault.unlock(PIN)


def test_one_attempt_by_default(make_vault: MakeVault) -> None:
    vault = make_vault()
    vault.create(PIN, sample_data())
    vault.lock()
    with pytest.raises(VaultWiped):
        vault.unlock("9999")
    assert not vault.status().exists


def test_a_right_pin_resets_the_count(make_vault: MakeVault) -> None:
    vault = make_vault(attempts_allowed=3)
    vault.create(PIN, sample_data())
    vault.lock()
    for _ in range(2):
        with pytest.raises(WrongPin):
            vault.unlock("0000")
    assert vault.unlock(PIN) == sample_data()
    assert vault.status().attempts_used == 0


def test_wipe_locks_and_makes_a_new_identity(make_vault: MakeVault) -> None:
    vault = make_vault()
    vault.create(PIN, sample_data())
    old_key = vault.public_key()
    vault.wipe()
    assert not vault.status().exists
    assert vault.public_key() != old_key
    with pytest.raises(VaultStateError):
        vault.save(sample_data())
    vault.create("1357", sample_data(1))  # a new vault, new PIN
    vault.lock()
    assert vault.unlock("1357") == sample_data(1)

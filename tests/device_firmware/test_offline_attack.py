"""The thief's view of the file vault: a copy of the card and an offline search over PINs.

This is why the file vault is labelled the weaker one (`VaultProtection.FILE`): with a copy
of the vault's directory, nothing but the KDF's price per guess stands between a thief and
the seeds. The attempt counter lives on the copied card too, and the thief simply ignores
it. The test runs at a tiny cost so it finishes in a fraction of a second; the per-PIN cost
it reports scales with the KDF (`python -m benchmarks token` measures the real defaults).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from device_firmware.vault import FileVault, contents, sealed
from device_firmware.vault.file_vault import STATUS_FILE, VAULT_FILE
from device_firmware.vault.sealed import PinRefused
from tests.device_firmware.vault_samples import PIN, TINY_COST, sample_data


@dataclass(frozen=True)
class Found:
    pin: str
    tries: int
    seconds_per_pin: float


def search(vault_file: Path) -> Found:
    """Try every 4-digit PIN against a copied vault.bin, as a thief would: no counter."""
    blob = vault_file.read_bytes()
    sealed.check(blob)  # the cost is in the header, for anyone to read
    start = time.perf_counter()
    for tries, number in enumerate(range(10_000), start=1):
        pin = f"{number:04d}"
        try:
            sealed.unwrap(blob, pin)
        except PinRefused:
            continue
        return Found(pin, tries, (time.perf_counter() - start) / tries)
    raise AssertionError("no PIN opened the vault")


def test_a_copy_of_the_card_gives_up_its_pin_and_seeds_offline(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    token_dir = tmp_path / "token"
    vault = FileVault(token_dir, attempts_allowed=1, kdf_cost=TINY_COST)
    vault.public_key()
    vault.create(PIN, sample_data(2))
    status_before = (token_dir / STATUS_FILE).read_bytes()

    stolen = tmp_path / "thief"
    shutil.copytree(token_dir, stolen)  # a copy of the SD card, taken while nobody looks
    found = search(stolen / VAULT_FILE)

    assert found.pin == PIN
    assert found.tries == int(PIN) + 1  # 2,581 wrong guesses: the token allows 1
    blob = (stolen / VAULT_FILE).read_bytes()
    seeds = contents.decode(sealed.unseal(blob, sealed.unwrap(blob, found.pin)))
    assert seeds == sample_data(2)  # every user's seed, in the clear
    assert (token_dir / STATUS_FILE).read_bytes() == status_before  # the token never knew
    assert FileVault(token_dir, kdf_cost=TINY_COST).status().attempts_used == 0
    record_property("seconds_per_pin", found.seconds_per_pin)
    print(  # shown with pytest -s: the honest figure behind "weaker"
        f"offline search: PIN found after {found.tries} tries, "
        f"{found.seconds_per_pin * 1e6:.0f} µs a PIN at {TINY_COST}; "
        f"all 10,000 at this cost: {found.seconds_per_pin * 10_000:.1f} s"
    )
    assert 0 < found.seconds_per_pin < 0.01  # the tiny cost: a thief's best case

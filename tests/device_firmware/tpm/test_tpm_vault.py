"""`TpmVault` on a real software TPM, played as the thief would.

The thief has a copy of every file the token wrote (the SD card), sometimes the token itself,
and code of their own that talks to the TPM without this firmware's rules.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_firmware.core import (
    Language,
    VaultStateError,
    VaultUnreadable,
    VaultWiped,
    WrongPin,
)
from device_firmware.core import device_id as device_ids
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.vault import tpm_check, tpm_vault
from device_firmware.vault.tpm import LockoutPolicy, Tpm, TpmAuthRefused, TpmLockedOut
from device_firmware.vault.tpm_vault import VAULT_FILE, TpmVault, VaultLockedOut
from tests.device_firmware.tpm.conftest import TEST_LOCKOUT, MakeTpmVault
from tests.device_firmware.vault_samples import PIN, sample_data

ALL_PINS = [f"{n:04d}" for n in range(10_000)]


def sd_card_copy(vault: TpmVault, into: Path) -> dict[str, bytes]:
    """Every file the token wrote, as a thief's copy of the SD card."""
    shutil.copytree(vault.directory, into)
    return {path.name: path.read_bytes() for path in into.iterdir() if path.is_file()}


def test_the_vault_opens_with_the_right_pin_after_a_power_cycle(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    public_key = vault.public_key()
    vault.create(PIN, sample_data(3))
    swtpm.restart()  # the TPM loses its RAM; persistent objects and NV stay
    again = make_tpm_vault(attempts_allowed=3)
    assert again.status().exists
    assert again.unlock(PIN) == sample_data(3)
    assert again.public_key() == public_key


def test_a_copy_of_the_sd_card_admits_no_offline_pin_search(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm, tmp_path: Path
) -> None:
    vault = make_tpm_vault()
    vault.create(PIN, sample_data(2))
    vault.set_language(Language.EN)
    files = sd_card_copy(vault, tmp_path / "copy")
    assert set(files) == {VAULT_FILE, "status.json"}  # no identity key, no wrapped key

    # The data key exists only in the TPM: the test (not the thief) asks it with the PIN.
    data_key = Tpm(swtpm.tcti).unseal(PIN)
    assert all(data_key not in blob for blob in files.values())

    # The search: every PIN, each turned into a key the way the firmware turns a PIN into
    # the TPM's authorisation, tried on the sealed contents. None opens them, the right
    # PIN included, because no key on the card is derived from the PIN.
    blob = files[VAULT_FILE]
    body = blob[: -tpm_vault.CHECKSUM_BYTES]
    header_end = tpm_vault._PREFIX.size + body[9] + tpm_vault.NONCE_BYTES
    header, sealed = body[:header_end], body[header_end:]
    opened = []
    for pin in ALL_PINS:
        candidate = hashlib.sha256(b"otp-token-pin\0" + pin.encode()).digest()
        try:
            AESGCM(candidate).decrypt(header[-12:], sealed, header)
            opened.append(pin)
        except InvalidTag:
            pass
    assert opened == []
    # ...while the real data key does open them: the search tried the right format.
    AESGCM(data_key).decrypt(header[-12:], sealed, header)


def test_the_copy_with_the_right_pin_does_not_open_on_another_tpm(
    make_tpm_vault: MakeTpmVault, tmp_path: Path
) -> None:
    vault = make_tpm_vault()
    vault.create(PIN, sample_data(2))
    sd_card_copy(vault, tmp_path / "copy")
    other_tpm = SoftwareTpm(tmp_path / "thief-tpm")
    other_tpm.start()
    try:
        clone = TpmVault(tmp_path / "copy", Tpm(other_tpm.tcti), lockout=TEST_LOCKOUT)
        assert not clone.status().exists
        with pytest.raises(VaultStateError):
            clone.unlock(PIN)
        assert clone.public_key() != vault.public_key()  # it cannot be the token either
    finally:
        other_tpm.stop()


def test_code_that_bypasses_the_firmware_is_stopped_by_the_tpm_itself(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    vault.create(PIN, sample_data(1))
    thief = Tpm(swtpm.tcti)  # the thief's own program, no attempt counter, no wipe
    guesses = (pin for pin in ALL_PINS if pin != PIN)
    for _ in range(TEST_LOCKOUT.max_tries):
        with pytest.raises(TpmAuthRefused):
            thief.unseal(next(guesses))
    assert thief.lockout_state().locked_out
    with pytest.raises(TpmLockedOut):
        thief.unseal(PIN)  # even the right PIN: the TPM checks nothing now
    with pytest.raises(TpmLockedOut):
        thief.unseal(next(guesses))

    # The customer's token says so, and the refused try is not counted against them.
    used = vault.status().attempts_used
    with pytest.raises(VaultLockedOut) as locked:
        vault.unlock(PIN)
    assert locked.value.retry_after == TEST_LOCKOUT.recovery_seconds
    assert vault.status().attempts_used == used
    assert vault.status().exists


def test_nobody_can_reset_the_tpms_lockout_or_loosen_its_policy(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR

    vault = make_tpm_vault()
    state = vault.lockout_state()
    assert state.lockout_auth_set
    assert (state.max_tries, state.recovery_seconds) == (4, 3600)
    esapi = ESAPI(TCTILdr("swtpm", swtpm.tcti.partition(":")[2]))
    try:
        with pytest.raises(TSS2_Exception):
            esapi.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)
        with pytest.raises(TSS2_Exception):
            esapi.dictionary_attack_parameters(1000, 1, 1, lock_handle=ESYS_TR.LOCKOUT)
    finally:
        esapi.close()
    # the token started again does not change the policy either
    again = TpmVault(vault.directory, Tpm(swtpm.tcti), lockout=LockoutPolicy(32, 1, 1))
    assert again.lockout_state().max_tries == 4


def test_an_old_sd_image_after_the_wipe_never_opens(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm, tmp_path: Path
) -> None:
    vault = make_tpm_vault(attempts_allowed=1)
    vault.create(PIN, sample_data(2))
    image = tmp_path / "image"
    sd_card_copy(vault, image)
    vault.lock()
    with pytest.raises(VaultWiped):
        vault.unlock("0000")

    shutil.rmtree(vault.directory)
    shutil.copytree(image, vault.directory)  # the SD card as it was before the wrong PIN
    restored = make_tpm_vault(attempts_allowed=1)
    assert not restored.status().exists
    with pytest.raises(VaultStateError):
        restored.unlock(PIN)
    with pytest.raises(VaultStateError):
        Tpm(swtpm.tcti).unseal(PIN)  # nor with code of one's own: the key was evicted


def test_an_old_sd_image_does_not_give_wrong_pins_back(
    make_tpm_vault: MakeTpmVault, tmp_path: Path
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    vault.create(PIN, sample_data(1))
    image = tmp_path / "image"
    sd_card_copy(vault, image)
    vault.lock()
    for remaining in (2, 1):
        with pytest.raises(WrongPin) as refused:
            vault.unlock("1111")
        assert refused.value.attempts_remaining == remaining

    shutil.rmtree(vault.directory)
    shutil.copytree(image, vault.directory)
    restored = make_tpm_vault(attempts_allowed=3)
    assert restored.status().attempts_used == 2  # the counter is in the TPM, not on the card
    with pytest.raises(VaultWiped):
        restored.unlock("2222")
    assert not restored.status().exists


def test_a_power_cut_after_a_wrong_pin_gives_no_extra_try(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    vault.create(PIN, sample_data(1))
    vault.lock()
    with pytest.raises(WrongPin):
        vault.unlock("1111")
    swtpm.power_cut()  # no orderly shutdown
    swtpm.start()
    again = make_tpm_vault(attempts_allowed=3)
    assert again.status().attempts_used == 1
    assert again.lockout_state().failed_tries >= 1


class _PowerCutBeforeTheCheck(Tpm):
    """A TPM whose power is cut after the attempt was counted, before the PIN is checked."""

    def __init__(self, swtpm: SoftwareTpm) -> None:
        super().__init__(swtpm.tcti)
        self._swtpm = swtpm

    def unseal(self, pin: str) -> bytes:
        self._swtpm.power_cut()
        return super().unseal(pin)


def test_a_power_cut_between_counting_and_checking_counts_the_try(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm, tmp_path: Path
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    vault.create(PIN, sample_data(1))
    cut = TpmVault(vault.directory, _PowerCutBeforeTheCheck(swtpm), attempts_allowed=3)
    with pytest.raises(VaultUnreadable, match="cannot be reached"):
        cut.unlock(PIN)
    swtpm.start()
    again = make_tpm_vault(attempts_allowed=3)
    assert again.status().attempts_used == 1
    assert again.unlock(PIN) == sample_data(1)
    assert again.status().attempts_used == 0


def test_the_identity_signs_and_agrees_keys_inside_the_tpm(make_tpm_vault: MakeTpmVault) -> None:
    vault = make_tpm_vault()
    identity = vault.identity()
    public = serialization.load_der_public_key(identity.public_key_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    public.verify(identity.sign(b"POST /x"), b"POST /x", ec.ECDSA(hashes.SHA256()))

    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert identity.exchange(peer_der) == peer.exchange(ec.ECDH(), public)
    assert len(device_ids.format(device_ids.make(identity.public_key_der))) > 0
    with pytest.raises(ValueError):
        identity.exchange(b"not a key")


def test_the_identity_is_fixed_to_the_tpm(make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm) -> None:
    from tpm2_pytss import ESAPI, TCTILdr
    from tpm2_pytss.constants import TPMA_OBJECT

    vault = make_tpm_vault()
    vault.public_key()
    esapi = ESAPI(TCTILdr("swtpm", swtpm.tcti.partition(":")[2]))
    try:
        handle = esapi.tr_from_tpmpublic(Tpm(swtpm.tcti).layout.identity)
        public, _, _ = esapi.read_public(handle)
    finally:
        esapi.close()
    attributes = public.publicArea.objectAttributes
    assert attributes & TPMA_OBJECT.FIXEDTPM  # no duplication to another TPM
    assert attributes & TPMA_OBJECT.SENSITIVEDATAORIGIN  # made inside, never imported
    assert not any(p.name.endswith(".der") for p in vault.directory.iterdir())


def test_the_wipe_replaces_the_identity_and_evicts_the_key(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    vault = make_tpm_vault()
    before = vault.public_key()
    vault.create(PIN, sample_data(1))
    vault.wipe()
    assert vault.public_key() != before
    assert not vault.status().exists
    assert Tpm(swtpm.tcti).sealed_key_name() is None
    assert not (vault.directory / VAULT_FILE).exists()
    vault.create("9876", sample_data(2))  # a new vault after the wipe
    vault.lock()
    assert vault.unlock("9876") == sample_data(2)


def test_damage_on_the_card_is_reported_and_costs_no_attempt(
    make_tpm_vault: MakeTpmVault,
) -> None:
    vault = make_tpm_vault(attempts_allowed=3)
    vault.create(PIN, sample_data(1))
    path = vault.directory / VAULT_FILE
    blob = bytearray(path.read_bytes())
    blob[40] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(VaultUnreadable, match="damaged"):
        vault.unlock(PIN)
    assert vault.status().attempts_used == 0


def test_a_file_from_an_earlier_vault_is_refused(
    make_tpm_vault: MakeTpmVault, tmp_path: Path
) -> None:
    vault = make_tpm_vault()
    vault.create(PIN, sample_data(1))
    old = (vault.directory / VAULT_FILE).read_bytes()
    vault.wipe()
    vault.create(PIN, sample_data(2))  # same PIN, new sealed key
    (vault.directory / VAULT_FILE).write_bytes(old)
    vault.lock()
    with pytest.raises(VaultUnreadable, match="another sealed key"):
        vault.unlock(PIN)


def test_a_tpm_that_does_not_answer_is_a_clear_error(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm
) -> None:
    vault = make_tpm_vault()
    vault.create(PIN, sample_data(1))
    swtpm.stop()
    with pytest.raises(VaultUnreadable, match="cannot be reached") as failed:
        vault.status()
    assert PIN not in str(failed.value)


def test_the_check_command_reports_a_new_and_a_prepared_tpm(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tpm_check.main(["--tcti", swtpm.tcti]) == 3  # nobody has prepared it
    assert "DA policy fixed:  NO" in capsys.readouterr().out
    vault = make_tpm_vault()
    shown_id = device_ids.format(device_ids.make(vault.public_key()))
    vault.create(PIN, sample_data(1))
    assert tpm_check.main(["--tcti", swtpm.tcti]) == 0
    out = capsys.readouterr().out
    assert "DA failures:      0 of 4, one forgiven every 3600 s" in out
    assert f"device identity:  {shown_id}" in out
    assert "sealed vault key: yes" in out
    swtpm.stop()
    assert tpm_check.main(["--tcti", swtpm.tcti]) == 1
    assert "cannot be reached" in capsys.readouterr().err

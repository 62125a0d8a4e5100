"""`FileVault` on disk: format, persistence, tampering, damage, destruction, KDF cost, and
the upgrade of format-1 (scrypt) vaults to format 2 (Argon2id)."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device_firmware.core import (
    InvalidRecord,
    Language,
    StorageFailed,
    VaultUnreadable,
    WrongPin,
)
from device_firmware.core.records import VaultProtection
from device_firmware.vault import (
    Argon2Cost,
    DeviceIdentity,
    FileVault,
    ScryptCost,
    Step,
    contents,
    default_argon2_cost,
    sealed,
)
from device_firmware.vault.file_vault import IDENTITY_FILE, STATUS_FILE, VAULT_FILE
from device_firmware.vault.kdf import DEFAULT_MEMORY_KIB, MAX_ITERATIONS
from tests.device_firmware.vault_samples import (
    PIN,
    TINY_COST,
    TINY_SCRYPT,
    VAULT_V1,
    sample_data,
    signing_data,
)

HEADER = 106  # format 2: magic 8, version 1, cost 9, salt 16, key nonce 12, key 48, nonce 12


def open_vault(directory: Path, attempts: int = 3, **kwargs: object) -> FileVault:
    return FileVault(directory, attempts_allowed=attempts, kdf_cost=TINY_COST, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A directory holding a vault (3 attempts allowed) with two users, locked."""
    vault_dir = tmp_path / "token"
    vault = open_vault(vault_dir)
    vault.public_key()  # as the core does at first start
    vault.create(PIN, sample_data(2))
    return vault_dir


def with_checksum(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()


def rewrite(directory: Path, change: int, value: int | bytes | None = None) -> None:
    """Change vault.bin's body at `change` (one byte flipped, or set to `value`), and
    recompute the checksum: a deliberate edit."""
    blob = bytearray((directory / VAULT_FILE).read_bytes()[: -sealed.CHECKSUM_BYTES])
    if isinstance(value, bytes):
        blob[change : change + len(value)] = value
    else:
        blob[change] = value if value is not None else blob[change] ^ 0x01
    (directory / VAULT_FILE).write_bytes(with_checksum(bytes(blob)))


def format_of(directory: Path) -> int:
    return (directory / VAULT_FILE).read_bytes()[8]


@pytest.fixture
def old_vault(tmp_path: Path) -> Path:
    """A token directory whose vault.bin is format 1, as the firmware wrote it before."""
    vault_dir = tmp_path / "old"
    open_vault(vault_dir).public_key()
    shutil.copyfile(VAULT_V1, vault_dir / VAULT_FILE)
    return vault_dir


def test_contents_survive_a_restart(directory: Path) -> None:
    assert open_vault(directory).unlock(PIN) == sample_data(2)


def test_files_and_permissions(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) == [IDENTITY_FILE, STATUS_FILE, VAULT_FILE]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_header_layout(directory: Path) -> None:
    blob = (directory / VAULT_FILE).read_bytes()
    assert blob[:8] == b"OTPVAULT"
    assert blob[8] == 2  # format version: Argon2id
    assert int.from_bytes(blob[9:13]) == TINY_COST.memory_kib
    assert int.from_bytes(blob[13:17]) == TINY_COST.iterations
    assert blob[17] == TINY_COST.lanes
    assert sealed.check(blob) == TINY_COST
    assert hashlib.sha256(blob[:-32]).digest() == blob[-32:]
    assert len(blob) == HEADER + 1024 + 16 + 32  # header, padded contents, GCM tag, checksum


def test_no_secret_in_clear_on_disk(directory: Path) -> None:
    everything = b"".join(p.read_bytes() for p in directory.iterdir())
    for credential in sample_data(2).credentials:
        assert credential.seed not in everything
        assert credential.seed.hex().encode() not in everything
        assert credential.username.encode() not in everything
    assert PIN.encode() not in everything


def test_size_does_not_tell_the_number_of_users(tmp_path: Path) -> None:
    sizes = set()
    for users in (0, 1, 4):
        vault = open_vault(tmp_path / str(users))
        vault.create(PIN, sample_data(users))
        sizes.add((tmp_path / str(users) / VAULT_FILE).stat().st_size)
    assert len(sizes) == 1


def test_every_flipped_byte_is_unreadable_and_costs_no_attempt(directory: Path) -> None:
    original = (directory / VAULT_FILE).read_bytes()
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0x40
        (directory / VAULT_FILE).write_bytes(bytes(damaged))
        vault = open_vault(directory)
        with pytest.raises(VaultUnreadable):
            vault.unlock(PIN)
    assert open_vault(directory).status().attempts_used == 0


@pytest.mark.parametrize("length", [0, 1, 8, 9, 17, HEADER - 1, HEADER, HEADER + 48, 1177])
def test_truncated_vault_is_unreadable(directory: Path, length: int) -> None:
    path = directory / VAULT_FILE
    path.write_bytes(path.read_bytes()[:length])
    with pytest.raises(VaultUnreadable):
        open_vault(directory).unlock(PIN)


def test_edited_contents_with_a_fixed_checksum_are_unreadable(directory: Path) -> None:
    rewrite(directory, change=HEADER + 5)  # inside the sealed contents
    with pytest.raises(VaultUnreadable):
        open_vault(directory).unlock(PIN)


def test_edited_key_wrap_with_a_fixed_checksum_looks_like_a_wrong_pin(directory: Path) -> None:
    rewrite(directory, change=18)  # first byte of the salt
    with pytest.raises(WrongPin):
        open_vault(directory).unlock(PIN)


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (0, ord("X")),
        (8, 3),
        (8, 0),
        (9, (4 * 1024 * 1024).to_bytes(4)),
        (9, (256 * 1024 + 1).to_bytes(4)),
        (9, (7).to_bytes(4)),
        (13, (0).to_bytes(4)),
        (13, (MAX_ITERATIONS + 1).to_bytes(4)),
        (9, (128 * 1024).to_bytes(4) + (64).to_bytes(4)),
        (17, 0),
        (17, 17),
    ],
    ids=[
        "magic",
        "unknown-version",
        "version-0",
        "4-GiB",
        "over-256-MiB",
        "under-argon2-minimum",
        "zero-iterations",
        "too-many-iterations",
        "too-much-work",
        "zero-lanes",
        "too-many-lanes",
    ],
)
def test_edited_header_is_unreadable_before_any_kdf(
    directory: Path, offset: int, value: int | bytes
) -> None:
    """An attacker's header must not make the token allocate gigabytes or spin for hours."""
    rewrite(directory, change=offset, value=value)
    vault = open_vault(directory)
    with pytest.raises(VaultUnreadable):
        vault.unlock(PIN)
    assert vault.status().attempts_used == 0


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": 2, "attempts_used": 0, "language": "es"}',
        b'{"format": 1, "attempts_used": -1, "language": "es"}',
        b'{"format": 1, "attempts_used": "0", "language": "es"}',
        b'{"format": 1, "attempts_used": 0, "language": "fr"}',
        b'{"format": 1}',
        b"\xff\xfe",
    ],
)
def test_damaged_status_file_is_unreadable(directory: Path, document: bytes) -> None:
    (directory / STATUS_FILE).write_bytes(document)
    vault = open_vault(directory)
    with pytest.raises(VaultUnreadable):
        vault.status()
    with pytest.raises(VaultUnreadable):
        vault.unlock(PIN)


def test_damaged_identity_is_unreadable(directory: Path) -> None:
    (directory / IDENTITY_FILE).write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(VaultUnreadable):
        open_vault(directory).public_key()


def test_identity_on_another_curve_is_unreadable(directory: Path) -> None:
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (directory / IDENTITY_FILE).write_bytes(other)
    with pytest.raises(VaultUnreadable):
        open_vault(directory).public_key()


def test_wipe_overwrites_before_removing(directory: Path) -> None:
    originals = {name: (directory / name).read_bytes() for name in (VAULT_FILE, IDENTITY_FILE)}
    seen: dict[str, bytes] = {}

    def look(step: Step, name: str) -> None:
        if step is Step.OVERWRITTEN:
            seen[name] = (directory / f".{name}.destroy").read_bytes()

    vault = open_vault(directory, checkpoint=look)
    old_key = vault.public_key()
    vault.wipe()
    for name, original in originals.items():
        assert len(seen[name]) == len(original)
        assert seen[name] != original
    assert sorted(p.name for p in directory.iterdir()) == [IDENTITY_FILE, STATUS_FILE]
    assert open_vault(directory).public_key() != old_key


def test_status_keeps_the_language_and_counts_across_restarts(directory: Path) -> None:
    vault = open_vault(directory)
    vault.set_language(Language.EN)
    with pytest.raises(WrongPin):
        vault.unlock("0000")
    again = open_vault(directory).status()
    assert (again.language, again.attempts_used, again.attempts_remaining) == (Language.EN, 1, 2)
    assert json.loads((directory / STATUS_FILE).read_text())["attempts_used"] == 1


def test_vault_opens_with_the_cost_it_was_made_with(directory: Path) -> None:
    other = Argon2Cost(memory_kib=16, iterations=2)
    other_cost = FileVault(directory, attempts_allowed=3, kdf_cost=other)
    assert other_cost.unlock(PIN) == sample_data(2)
    assert sealed.check((directory / VAULT_FILE).read_bytes()) == TINY_COST  # not rewritten


def test_disk_errors_are_storage_failures_and_keep_the_old_vault(directory: Path) -> None:
    def disk_full(step: Step, name: str) -> None:
        if name == VAULT_FILE and step is Step.TEMP_WRITTEN:
            raise OSError(28, "No space left on device")

    vault = open_vault(directory, checkpoint=disk_full)
    vault.unlock(PIN)
    with pytest.raises(StorageFailed):
        vault.save(sample_data(5))
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    assert open_vault(directory).unlock(PIN) == sample_data(2)


def test_scrypt_cost_defaults_and_limits() -> None:
    assert ScryptCost() == ScryptCost(log2_n=14, r=8, p=1)
    assert ScryptCost().memory == 16 * 1024 * 1024
    for bad in ({"log2_n": 0}, {"log2_n": 25}, {"r": 0}, {"p": 17}, {"log2_n": 20, "r": 32}):
        with pytest.raises(InvalidRecord):
            ScryptCost(**bad)


def test_the_file_vault_says_it_is_the_weaker_one(directory: Path) -> None:
    assert open_vault(directory).protection is VaultProtection.FILE


def test_the_default_cost_is_calibrated_once_and_never_for_an_unlock(directory: Path) -> None:
    default_argon2_cost.cache_clear()
    plain = FileVault(directory, attempts_allowed=3)  # no cost given: the calibrated default
    assert plain.unlock(PIN) == sample_data(2)  # a format-2 vault: nothing to calibrate
    assert default_argon2_cost.cache_info().currsize == 0
    cost = plain.kdf_cost
    assert cost is default_argon2_cost() is FileVault(directory).kdf_cost
    assert default_argon2_cost.cache_info().misses == 1  # measured once for the process
    assert cost.memory_kib == DEFAULT_MEMORY_KIB and cost.lanes == 1
    assert 1 <= cost.iterations <= MAX_ITERATIONS


def test_a_format_1_vault_opens_and_upgrades_itself_to_argon2id(old_vault: Path) -> None:
    old_blob = (old_vault / VAULT_FILE).read_bytes()
    assert sealed.check(old_blob) == TINY_SCRYPT
    vault = open_vault(old_vault)
    assert vault.unlock(PIN) == sample_data(2)
    new_blob = (old_vault / VAULT_FILE).read_bytes()
    assert sealed.check(new_blob) == TINY_COST  # the vault's cost for new vaults
    assert new_blob[18:34] != old_blob[12:28]  # a new salt
    # the same data key, wrapped again: nothing else about the vault changed
    assert sealed.unwrap(new_blob, PIN).key == sealed.unwrap(old_blob, PIN).key
    vault.save(sample_data(3))  # saves under the new header
    assert format_of(old_vault) == 2
    again = open_vault(old_vault)
    assert again.unlock(PIN) == sample_data(3)
    assert again.status().attempts_used == 0


def test_a_wrong_pin_does_not_upgrade_a_format_1_vault(old_vault: Path) -> None:
    with pytest.raises(WrongPin):
        open_vault(old_vault).unlock("0000")
    assert (old_vault / VAULT_FILE).read_bytes() == VAULT_V1.read_bytes()


def test_a_failed_upgrade_leaves_a_working_format_1_vault(old_vault: Path) -> None:
    def disk_full(step: Step, name: str) -> None:
        if name == VAULT_FILE and step is Step.TEMP_WRITTEN:
            raise OSError(28, "No space left on device")

    vault = open_vault(old_vault, checkpoint=disk_full)
    assert vault.unlock(PIN) == sample_data(2)  # the customer gets their codes anyway
    assert (old_vault / VAULT_FILE).read_bytes() == VAULT_V1.read_bytes()
    assert open_vault(old_vault).unlock(PIN) == sample_data(2)  # and it upgrades next time
    assert format_of(old_vault) == 2


def test_a_format_1_vault_made_now_still_opens(tmp_path: Path) -> None:
    blob, _ = sealed.seal_new(PIN, contents.encode(sample_data(1)), TINY_SCRYPT)
    assert blob[8] == 1 and tuple(blob[9:12]) == (4, 1, 1)
    assert len(blob) == 100 + 1024 + 16 + 32  # format 1's header is 100 bytes
    vault = open_vault(tmp_path / "v1")
    (tmp_path / "v1" / VAULT_FILE).write_bytes(blob)
    assert vault.unlock(PIN) == sample_data(1)


@pytest.mark.parametrize(
    ("offset", "value"), [(9, 25), (10, 0), (11, 0), (9, 24)], ids=["n", "r", "p", "memory"]
)
def test_an_edited_format_1_cost_is_refused_before_any_kdf(
    old_vault: Path, offset: int, value: int
) -> None:
    rewrite(old_vault, change=offset, value=value)
    vault = open_vault(old_vault)
    with pytest.raises(VaultUnreadable):
        vault.unlock(PIN)
    assert vault.status().attempts_used == 0


def test_attempts_allowed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InvalidRecord):
        FileVault(tmp_path, attempts_allowed=0)


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"{}",
        b'{"format": 2, "clock_offset": 0, "credentials": []}',
        b'{"format": 1, "clock_offset": "x", "credentials": []}',
        b'{"format": 1, "clock_offset": 0, "credentials": [{}]}',
        b'{"format": 1, "clock_offset": 0, "credentials": [1]}',
        b'{"format": 1, "clock_offset": 0, "credentials": [{"credential_id": "c", "issuer": "",'
        b' "username": "u", "display_name": "", "algorithm": "MD5", "digits": 6, "period": 60,'
        b' "seed": "00"}]}',
        "ñ".encode(),
    ],
)
def test_malformed_contents_are_unreadable(document: bytes) -> None:
    with pytest.raises(VaultUnreadable):
        contents.decode(document)


def test_contents_round_trip() -> None:
    for users in range(4):
        assert contents.decode(contents.encode(sample_data(users))) == sample_data(users)


def test_ocra_seeds_round_trip_and_survive_a_restart(directory: Path) -> None:
    data = signing_data(3)
    assert [c.signs_transfers for c in data.credentials] == [True, False, True]
    assert contents.decode(contents.encode(data)) == data
    vault = open_vault(directory)
    vault.unlock(PIN)
    vault.save(data)
    assert open_vault(directory).unlock(PIN) == data


def test_contents_written_before_ocra_seeds_read_as_credentials_without_them() -> None:
    """A document made the old way, by hand: no ocra_ keys at all."""
    old = {
        "format": 1,
        "clock_offset": 2.0,
        "credentials": [
            {"credential_id": "c1", "issuer": "Banco", "username": "ana", "display_name": "Ana",
             "algorithm": "SHA1", "digits": 6, "period": 60, "seed": "00" * 20},
        ],
    }  # fmt: skip
    data = contents.decode(json.dumps(old).encode())
    assert data.credentials[0].ocra_suite is None and data.credentials[0].ocra_seed is None
    # and a credential without an OCRA seed is written exactly as before
    assert json.loads(contents.encode(data)) == old


def test_the_format_1_vault_of_before_opens_without_ocra_seeds(old_vault: Path) -> None:
    data = open_vault(old_vault).unlock(PIN)
    assert data.credentials and not any(c.signs_transfers for c in data.credentials)


@pytest.mark.parametrize(
    "ocra",
    [
        {"ocra_suite": "OCRA-1:HOTP-SHA256-8:QA20-T1M"},  # a suite without its seed
        {"ocra_seed": "11" * 32},  # a seed without its suite
        {"ocra_suite": "OCRA-1:HOTP-SHA1-6:QN08", "ocra_seed": "11" * 32},
        {"ocra_suite": "OCRA-1:HOTP-SHA256-8:QA20-T1M", "ocra_seed": "11" * 8},
        {"ocra_suite": "OCRA-1:HOTP-SHA256-8:QA20-T1M", "ocra_seed": "zz"},
    ],
)
def test_malformed_ocra_contents_are_unreadable(ocra: dict[str, str]) -> None:
    item = {"credential_id": "c1", "issuer": "", "username": "u", "display_name": "",
            "algorithm": "SHA1", "digits": 6, "period": 60, "seed": "00" * 20} | ocra  # fmt: skip
    document = {"format": 1, "clock_offset": 0, "credentials": [item]}
    with pytest.raises(VaultUnreadable):
        contents.decode(json.dumps(document).encode())


def test_identity_signs_and_agrees_keys() -> None:
    identity = DeviceIdentity.generate()
    again = DeviceIdentity.from_der(identity.to_der())
    assert again.public_key_der == identity.public_key_der
    public = serialization.load_der_public_key(identity.public_key_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(identity.sign(b"request"), b"request", ec.ECDSA(hashes.SHA256()))
    peer = DeviceIdentity.generate()
    assert identity.exchange(peer.public_key_der) == peer.exchange(identity.public_key_der)
    assert "PRIVATE" not in repr(identity) and len(repr(identity)) < 60

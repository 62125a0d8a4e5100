"""Power cuts: the attempt counter is durable before the PIN check; writes are all-or-nothing.

Two ways to cut the power: a `checkpoint` that raises `PowerCut` (a BaseException nothing
catches) right after a chosen durable step, tried at every step of an operation in turn; and
SIGKILL of a real token process (`power_cut_child`). Neither loses the page cache the way a
real power failure can; the fsync calls in `DirectoryStorage` are what covers that case.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from device_firmware.core import MessageScreen, TokenData, TokenError, VaultUnreadable
from device_firmware.core.state import Welcome
from device_firmware.vault import FileVault, Step, sealed
from device_firmware.vault.file_vault import STATUS_FILE, VAULT_FILE
from tests.device_firmware.conftest import define_pin, make_rig, register
from tests.device_firmware.vault_samples import PIN, TINY_COST, VAULT_V1, sample_data

ROOT = Path(__file__).resolve().parents[2]


class PowerCut(BaseException):
    """The power goes."""


def vault_at(directory: Path, attempts: int = 3, cut_at: int | None = None) -> FileVault:
    """A FileVault whose `cut_at`-th durable step (1-based) cuts the power."""
    steps = 0

    def checkpoint(step: Step, name: str) -> None:
        nonlocal steps
        steps += 1
        if steps == cut_at:
            raise PowerCut(step, name)

    return FileVault(
        directory, attempts_allowed=attempts, kdf_cost=TINY_COST, checkpoint=checkpoint
    )


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    vault = vault_at(tmp_path / "token")
    vault.public_key()
    vault.create(PIN, sample_data(2))
    return tmp_path / "token"


def cut_at_every_step(
    directory: Path, operation: Callable[[FileVault], object], attempts: int = 3
) -> Iterator[tuple[Step, str]]:
    """Run `operation` once per durable step, cutting the power there; yield (step, file).

    Before each run the directory is put back as it was. The loop ends with the first run
    that reaches its end (normally or with a TokenError such as WrongPin).
    """
    snapshot = {p.name: p.read_bytes() for p in directory.iterdir()}
    cut_at = 1
    while True:
        for path in directory.iterdir():
            path.unlink()
        for name, data in snapshot.items():
            (directory / name).write_bytes(data)
        try:
            operation(vault_at(directory, attempts, cut_at))
        except PowerCut as cut:
            yield cut.args[0], cut.args[1]
            cut_at += 1
            continue
        except TokenError:
            pass
        return


def test_a_cut_right_after_counting_still_counts(directory: Path) -> None:
    vault = vault_at(directory)

    def cut_once_counted(step: Step, name: str) -> None:
        if name == STATUS_FILE and step is Step.DIRECTORY_SYNCED:
            raise PowerCut

    counting = FileVault(
        directory, attempts_allowed=3, kdf_cost=TINY_COST, checkpoint=cut_once_counted
    )
    with pytest.raises(PowerCut):
        counting.unlock(PIN)  # even the right PIN: the check never happened
    assert vault_at(directory).status().attempts_used == 1
    with pytest.raises(PowerCut):
        counting.unlock("0000")
    assert vault_at(directory).status().attempts_remaining == 1
    assert vault.unlock(PIN) == sample_data(2)
    assert vault_at(directory).status().attempts_used == 0


def test_unlock_cut_at_every_step_never_gives_a_free_try(directory: Path) -> None:
    cuts = []
    for step, name in cut_at_every_step(directory, lambda v: v.unlock("0000")):
        cuts.append((step, name))
        used = vault_at(directory).status().attempts_used
        if name == STATUS_FILE and step in (Step.RENAMED, Step.DIRECTORY_SYNCED):
            assert used == 1  # the count is in place: the check may come next
        else:
            assert used == 0  # the count is not in place, and no PIN was checked yet
        assert vault_at(directory).unlock(PIN) == sample_data(2)  # never a broken vault
    # Every durable step of the wrong-PIN unlock is the counter's write, all before the check.
    assert [name for _, name in cuts] == [STATUS_FILE] * 4


def test_only_attempt_cut_after_counting_wipes_at_next_start(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    rig = make_rig(FileVault(directory, attempts_allowed=1, kdf_cost=TINY_COST))
    register(rig, "ana", "clave1")
    define_pin(rig)
    old_id = rig.device_id

    def cut_once_counted(step: Step, name: str) -> None:
        if name == STATUS_FILE and step is Step.DIRECTORY_SYNCED:
            raise PowerCut

    rig.restart(FileVault(directory, kdf_cost=TINY_COST, checkpoint=cut_once_counted))
    with pytest.raises(PowerCut):
        rig.press(PIN + "#")
    rig.restart(FileVault(directory, kdf_cost=TINY_COST))
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.title == "Token borrado"
    rig.press("#")
    assert isinstance(rig.place, Welcome)
    assert rig.device_id != old_id
    assert not (directory / VAULT_FILE).exists()


def test_save_cut_at_every_step_leaves_the_old_or_the_new_vault(directory: Path) -> None:
    old, new = sample_data(2), sample_data(3, offset=99.0)

    def save(vault: FileVault) -> None:
        vault.unlock(PIN)  # its counter writes are cut too, then the vault write's steps
        vault.save(new)

    seen = set()
    for step, name in cut_at_every_step(directory, save):
        reopened = vault_at(directory)
        data = reopened.unlock(PIN)
        assert data in (old, new), (step, name)
        seen.add(data == new)
        assert not [p for p in directory.iterdir() if p.name.startswith(".")]
    assert seen == {False, True}  # some cuts kept the old vault, some the new one


def test_upgrade_cut_at_every_step_leaves_a_vault_of_either_format(tmp_path: Path) -> None:
    """A format-1 vault rewrapped under Argon2id on unlock: a cut anywhere leaves a vault
    that opens with the PIN, in the old format or the new, never neither."""
    directory = tmp_path / "token"
    vault_at(directory).public_key()
    shutil.copyfile(VAULT_V1, directory / VAULT_FILE)

    formats = set()
    for step, name in cut_at_every_step(directory, lambda v: v.unlock(PIN)):
        assert not [p for p in vault_at(directory).directory.iterdir() if p.name[0] == "."]
        blob = (directory / VAULT_FILE).read_bytes()
        formats.add(blob[8])
        if name == VAULT_FILE and step in (Step.RENAMED, Step.DIRECTORY_SYNCED):
            assert sealed.check(blob) == TINY_COST
        assert vault_at(directory).unlock(PIN) == sample_data(2), (step, name)
    assert formats == {1, 2}  # some cuts came before the rename, some after
    assert sealed.check((directory / VAULT_FILE).read_bytes()) == TINY_COST


def test_create_cut_at_every_step_leaves_no_vault_or_a_whole_one(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    vault_at(directory).public_key()

    outcomes = set()
    for _ in cut_at_every_step(directory, lambda v: v.create(PIN, sample_data(1))):
        reopened = vault_at(directory)
        if reopened.status().exists:
            assert reopened.unlock(PIN) == sample_data(1)
            outcomes.add("whole")
        else:
            outcomes.add("none")
    assert outcomes == {"none", "whole"}


def test_wipe_cut_at_every_step_never_leaves_a_readable_old_vault_half_gone(
    directory: Path,
) -> None:
    for _ in cut_at_every_step(directory, lambda v: v.wipe()):
        reopened = vault_at(directory)  # finishes any interrupted destruction
        assert not [p for p in directory.iterdir() if p.name.startswith(".")]
        status = reopened.status()
        reopened.public_key()  # an identity is always available (a new one if need be)
        if status.exists:
            assert reopened.unlock(PIN) == sample_data(2)  # the cut came before the wipe began


def run_child(mode: str, directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.device_firmware.power_cut_child", mode, str(directory), PIN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextmanager
def killed(child: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        child.kill()  # SIGKILL: no cleanup, no flush, no finally in the child
        child.wait(timeout=10)


def test_killed_process_after_counting_the_attempt(directory: Path) -> None:
    child = run_child("count", directory)
    with killed(child):
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "counted"
    assert child.returncode == -signal.SIGKILL
    assert vault_at(directory).status().attempts_used == 1


@pytest.mark.slow
def test_killed_process_in_the_middle_of_saving(directory: Path) -> None:
    rng = random.Random(5)
    versions = set()
    for _ in range(8):
        child = run_child("save-loop", directory)
        with killed(child):
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "saving"
            time.sleep(rng.uniform(0.0, 0.2))
        try:
            data: TokenData = vault_at(directory).unlock(PIN)
        except VaultUnreadable:  # pragma: no cover - the failure this test exists to catch
            pytest.fail("a killed write left a broken vault")
        versions.add(data.clock_offset)
        assert data == sample_data(1 + int(data.clock_offset) % 3, offset=data.clock_offset) or (
            data == sample_data(2)
        )
    assert len(versions) > 1  # the kills landed at different points

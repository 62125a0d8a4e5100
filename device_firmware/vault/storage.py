"""Files that survive a power cut: atomic replacement, and destruction that overwrites first.

`write(name, data)` never leaves a half-written file under `name`: the bytes go to a new
temporary file in the same directory, which is flushed and fsync'd, then renamed over
`name` (rename is atomic on POSIX file systems), then the directory is fsync'd so the rename
itself is durable. After a crash at any point, `name` holds the old bytes or the new ones;
a leftover temporary file is removed the next time the directory is opened.

`destroy(name)` first renames the file to a doomed name (so from that instant the file is
gone for every reader), overwrites its bytes with random data, fsyncs, and removes it. On
flash (SD cards, eMMC) the controller may keep old copies of overwritten blocks, so the
overwrite is best effort; what protects the data is that it is encrypted.

`checkpoint`, if given, is called after each durable step with the step and the file name;
tests raise from it to play a power cut at an exact point. Production code passes None.
"""

from __future__ import annotations

import enum
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from device_firmware.core.errors import StorageFailed, VaultUnreadable

_TEMP_SUFFIX = ".tmp"
_DOOMED_SUFFIX = ".destroy"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


class Step(enum.StrEnum):
    """A point in a write or a destruction where a power cut can be simulated."""

    TEMP_WRITTEN = "temp-written"
    TEMP_SYNCED = "temp-synced"
    RENAMED = "renamed"
    DIRECTORY_SYNCED = "directory-synced"
    DOOMED = "doomed"
    OVERWRITTEN = "overwritten"
    REMOVED = "removed"


Checkpoint = Callable[[Step, str], None]


class DirectoryStorage:
    """A directory of small files, each replaced atomically.

    Args:
        directory: created (mode 0700) if missing.
        checkpoint: called after each durable step (tests only).

    Raises:
        StorageFailed: the directory cannot be created or cleaned.
    """

    def __init__(self, directory: Path, *, checkpoint: Checkpoint | None = None) -> None:
        self.directory = directory
        self._checkpoint = checkpoint
        try:
            directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            self._finish_interrupted()
        except OSError as exc:
            raise StorageFailed(f"cannot use the vault directory {directory}: {exc}") from exc

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None if it does not exist.

        Raises:
            VaultUnreadable: it exists but cannot be read.
        """
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise VaultUnreadable(f"cannot read {name}: {exc}") from exc

    def exists(self, name: str) -> bool:
        """Whether the file exists."""
        return (self.directory / name).exists()

    def write(self, name: str, data: bytes) -> None:
        """Replace the file's contents atomically and durably.

        Raises:
            StorageFailed: the write failed; the previous contents are intact.
        """
        final = self.directory / name
        temp = self.directory / f".{name}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                _write_all(fd, data)
                self._step(Step.TEMP_WRITTEN, name)
                os.fsync(fd)
                self._step(Step.TEMP_SYNCED, name)
            finally:
                os.close(fd)
            os.replace(temp, final)
            self._step(Step.RENAMED, name)
            self._sync_directory()
            self._step(Step.DIRECTORY_SYNCED, name)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageFailed(f"cannot write {name}: {exc}") from exc

    def destroy(self, name: str) -> None:
        """Rename, overwrite with random bytes, fsync and remove the file (if it exists).

        Raises:
            StorageFailed: the file could not be destroyed.
        """
        path = self.directory / name
        doomed = self.directory / f".{name}{_DOOMED_SUFFIX}"
        try:
            if path.exists():
                os.replace(path, doomed)
                self._sync_directory()
                self._step(Step.DOOMED, name)
            if doomed.exists():
                self._overwrite_and_remove(doomed, name)
        except OSError as exc:
            raise StorageFailed(f"cannot destroy {name}: {exc}") from exc

    def _overwrite_and_remove(self, doomed: Path, name: str) -> None:
        size = doomed.stat().st_size
        fd = os.open(doomed, os.O_WRONLY)
        try:
            _write_all(fd, secrets.token_bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._step(Step.OVERWRITTEN, name)
        doomed.unlink()
        self._sync_directory()
        self._step(Step.REMOVED, name)

    def _finish_interrupted(self) -> None:
        """Remove temporary files of interrupted writes; finish interrupted destructions."""
        for leftover in self.directory.glob(f".*{_TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)
        for doomed in self.directory.glob(f".*{_DOOMED_SUFFIX}"):
            name = doomed.name[1 : -len(_DOOMED_SUFFIX)]
            self._overwrite_and_remove(doomed, name)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _step(self, step: Step, name: str) -> None:
        if self._checkpoint is not None:
            self._checkpoint(step, name)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

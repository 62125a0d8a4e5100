"""A token process for the power-cut tests to kill with SIGKILL at a chosen moment.

python -m tests.device_firmware.power_cut_child count DIR PIN
    unlock with PIN; once the attempt counter is durably on disk, print "counted" and
    hang (the parent kills the process before the PIN is checked).
python -m tests.device_firmware.power_cut_child save-loop DIR PIN
    unlock, then save version 1, 2, 3, ... forever (clock_offset = version), printing
    "saving" once (the parent kills it at a random moment).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from device_firmware.vault import FileVault, Step
from device_firmware.vault.file_vault import STATUS_FILE
from tests.device_firmware.vault_samples import TINY_COST, sample_data


def count(directory: Path, pin: str) -> None:
    def hang_once_counted(step: Step, name: str) -> None:
        if name == STATUS_FILE and step is Step.DIRECTORY_SYNCED:
            print("counted", flush=True)
            threading.Event().wait()  # until SIGKILL

    FileVault(directory, attempts_allowed=3, checkpoint=hang_once_counted).unlock(pin)


def save_loop(directory: Path, pin: str) -> None:
    vault = FileVault(directory, attempts_allowed=3, kdf_cost=TINY_COST)
    vault.unlock(pin)
    print("saving", flush=True)
    version = 0
    while True:
        version += 1
        vault.save(sample_data(1 + version % 3, offset=float(version)))


def main(argv: list[str]) -> None:
    mode, directory, pin = argv
    {"count": count, "save-loop": save_loop}[mode](Path(directory), pin)


if __name__ == "__main__":
    main(sys.argv[1:])

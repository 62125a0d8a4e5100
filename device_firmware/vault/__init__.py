"""The token's file-based vault: the `Vault` port on a directory (docs/design.md §5).

Public API: `FileVault`, `KdfCost`, `DeviceIdentity`, `DirectoryStorage` (atomic writes) and
its `Step` points. Read `sealed` for the file format, the KDF cost and why a 4-digit PIN does
not resist an offline attack on a copy of the SD card.
"""

from device_firmware.vault.file_vault import FileVault
from device_firmware.vault.identity import DeviceIdentity
from device_firmware.vault.sealed import KdfCost
from device_firmware.vault.storage import Checkpoint, DirectoryStorage, Step

__all__ = ["Checkpoint", "DeviceIdentity", "DirectoryStorage", "FileVault", "KdfCost", "Step"]

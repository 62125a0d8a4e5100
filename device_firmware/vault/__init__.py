"""The token's file-based vault: the `Vault` port on a directory (docs/design.md §5).

Public API: `FileVault`, `Argon2Cost` (the KDF of new vaults, with its calibration),
`ScryptCost` (the KDF of format-1 vaults, which still open and upgrade themselves),
`DeviceIdentity`, `DirectoryStorage` (atomic writes) and its `Step` points. Read `sealed` for
the file format and `kdf` for the costs and why a 4-digit PIN does not resist an offline
attack on a copy of the SD card: this is the weaker vault (`VaultProtection.FILE`).
"""

from device_firmware.vault.file_vault import FileVault
from device_firmware.vault.identity import DeviceIdentity
from device_firmware.vault.kdf import Argon2Cost, ScryptCost, default_argon2_cost
from device_firmware.vault.storage import Checkpoint, DirectoryStorage, Step

__all__ = [
    "Argon2Cost",
    "Checkpoint",
    "DeviceIdentity",
    "DirectoryStorage",
    "FileVault",
    "ScryptCost",
    "Step",
    "default_argon2_cost",
]

"""The customer's token: one client core, driven by the Raspberry Pi adapters or the emulator.

- `device_firmware.core`: the pure state machine (screens, keys, transitions, effects) and its
  ports (`Display`, `Clock`, `Keypad`, `Vault`, `ServerLink`), each with a fake for tests.
- `device_firmware.vault`: the file-based `Vault` (AES-256-GCM under a scrypt-wrapped data key).
"""

__version__ = "0.1.0"

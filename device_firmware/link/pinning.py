"""The pinned provisioning key: the one public key whose bundles this token accepts.

Where the pin comes from (docs/protocol.md §3):

- **configuration** (`server_url`'s companion `provisioning_key`, or the emulator's
  ``--provisioning-key``): the bank's published key, set when the token is made. It wins:
  the stored pin is then neither read nor written.
- otherwise **first contact** (trust on first use): before its first signed request the link
  reads ``GET /api/v1/provisioning-key`` once, checks that the fingerprint matches the key,
  and stores it with `PinStore.save`; from then on it never asks again, so a server (or a
  network in between) that later shows another key cannot make the token accept bundles
  signed by it. The fingerprint is logged, for a person to compare with the bank's.

`PinnedKeyFile` keeps the pin as ``provisioning-key.json`` in the vault's directory, written
atomically. It is not sealed under the PIN (the first bundle arrives before there is a PIN)
and it is not secret. A wipe leaves it in place on purpose: anyone holding the token can
force a wipe by typing a wrong PIN, and that must not reopen the trust-on-first-use window.
A bank that replaces its provisioning key configures the new one (or removes the file).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from device_firmware.core.errors import VaultUnreadable
from device_firmware.link.signing import b64url, from_b64url
from device_firmware.link.token_key import public_key_of
from device_firmware.vault.storage import DirectoryStorage

PIN_FILE = "provisioning-key.json"
PIN_FORMAT = 1


@dataclass(frozen=True)
class ProvisioningKey:
    """A provisioning public key.

    Attributes:
        point: the uncompressed P-256 point (65 bytes), checked to lie on the curve.
        key_id: the bank's name for it (``otp-provisioning-v1``), for people and logs.

    Raises:
        ValueError: `point` is not a valid P-256 point.
    """

    point: bytes
    key_id: str = ""

    def __post_init__(self) -> None:
        public_key_of(self.point)

    @classmethod
    def from_b64url(cls, text: str, key_id: str = "") -> ProvisioningKey:
        """The key written as base64url of its point (as the bank publishes it).

        Raises:
            ValueError: not base64url of a P-256 point.
        """
        return cls(from_b64url(text.strip()), key_id)

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the point (what the bank publishes to compare)."""
        return hashlib.sha256(self.point).hexdigest()


class PinStore(Protocol):
    """Where the pin taken at first contact is kept. Raises only `VaultError`."""

    def load(self) -> ProvisioningKey | None:
        """The pinned key, or None before first contact.

        Raises:
            VaultUnreadable: the stored pin is damaged (never silently replaced).
        """

    def save(self, key: ProvisioningKey) -> None:
        """Pin `key`.

        Raises:
            StorageFailed: it could not be written.
        """


class PinnedKeyFile:
    """The `PinStore` on ``provisioning-key.json`` in a directory (the vault's).

    Args:
        directory: the token's vault directory.

    Raises:
        StorageFailed: the directory cannot be used.
    """

    def __init__(self, directory: Path) -> None:
        self._storage = DirectoryStorage(directory)

    def load(self) -> ProvisioningKey | None:
        """The pinned key, or None if nothing was pinned yet."""
        blob = self._storage.read(PIN_FILE)
        if blob is None:
            return None
        try:
            document = json.loads(blob.decode("utf-8"))
            if document["format"] != PIN_FORMAT:
                raise VaultUnreadable(f"pinned key format {document['format']!r} unsupported")
            key = ProvisioningKey.from_b64url(document["public_key"], str(document["key_id"]))
            if key.fingerprint != document["fingerprint"]:
                raise VaultUnreadable("the pinned provisioning key does not match its fingerprint")
        except (ValueError, KeyError, TypeError) as exc:
            raise VaultUnreadable("the pinned provisioning key file is damaged") from exc
        return key

    def save(self, key: ProvisioningKey) -> None:
        """Write the pin atomically."""
        document = {
            "format": PIN_FORMAT,
            "key_id": key.key_id,
            "public_key": b64url(key.point),
            "fingerprint": key.fingerprint,
        }
        self._storage.write(PIN_FILE, json.dumps(document, indent=1).encode("utf-8"))


class MemoryPinStore:
    """A `PinStore` in memory (tests; a token whose pin needs no keeping)."""

    def __init__(self, key: ProvisioningKey | None = None) -> None:
        self.key = key

    def load(self) -> ProvisioningKey | None:
        """The key pinned so far."""
        return self.key

    def save(self, key: ProvisioningKey) -> None:
        """Pin `key`."""
        self.key = key

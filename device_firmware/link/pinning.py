"""The pinned provisioning key: the one public key whose bundles this token accepts.

Where the token's trust in that key comes from (`ProvisioningTrust`, docs/protocol.md §3):

- **the key itself**, as the bank publishes it (``provisioning_key`` in the Pi's
  configuration, the emulator's ``--provisioning-key``): it wins, and the stored pin is then
  neither read nor written. This is the production setting: the key is built into the token.
- **its fingerprint** (the lowercase hex SHA-256 of the point, as ``otp-hsm provisioning-key
  --fingerprint`` and ``GET /api/v1/provisioning-key`` give it): before its first signed
  request the link reads ``GET /api/v1/provisioning-key`` once, and pins the key only if its
  fingerprint is the configured one. Another key is refused (`UntrustedProvisioningKey`) and
  nothing is pinned. A stored pin that does not match the configured fingerprint is not
  used: the key is read again and checked.
- **trust on first use**, for development only (``allow_trust_on_first_use = true``,
  ``--dev-trust-on-first-use``): whatever key the bank shows at first contact is pinned, and
  the token's screens say so. A network in between at that moment could make the token
  accept its bundles, which is why a token refuses to start without one of the other two.

Whichever way it was pinned, the key read at first contact is stored with `PinStore.save` and
never replaced by a later answer, so a server (or a network in between) that later shows
another key cannot make the token accept bundles signed by it. The fingerprint is logged.

`PinnedKeyFile` keeps the pin as ``provisioning-key.json`` in the vault's directory, written
atomically. It is not sealed under the PIN (the first bundle arrives before there is a PIN)
and it is not secret. A wipe leaves it in place on purpose: anyone holding the token can
force a wipe by typing a wrong PIN, and that must not reopen the trust-on-first-use window.
A bank that replaces its provisioning key configures the new one (or its fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
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


_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ProvisioningTrust:
    """How the token knows the bank's provisioning key: exactly one of the three below.

    Build it with `parse` (the configuration's text), `of_key` or `on_first_use`.

    Attributes:
        key: the published key itself (it wins over anything pinned).
        fingerprint: lowercase hex SHA-256 of the key's point; the key is read at first
            contact and pinned only if it matches.
        first_use: development only: pin whatever key the bank shows first.

    Raises:
        ValueError: not exactly one of them, or a fingerprint that is not 64 hex digits.
    """

    key: ProvisioningKey | None = None
    fingerprint: str | None = None
    first_use: bool = False

    def __post_init__(self) -> None:
        given = (self.key is not None) + (self.fingerprint is not None) + self.first_use
        if given != 1:
            raise ValueError("trust the provisioning key by its key, its fingerprint or first use")
        if self.fingerprint is not None and not _FINGERPRINT.match(self.fingerprint):
            raise ValueError("a fingerprint is 64 lowercase hex digits (SHA-256)")

    @classmethod
    def parse(cls, text: str) -> ProvisioningTrust:
        """The bank's key as it publishes it: base64url of the point, or the hex SHA-256
        fingerprint of the point (upper or lower case; colons and spaces are ignored).

        Raises:
            ValueError: neither.
        """
        compact = re.sub(r"[\s:]", "", text).lower()
        if _FINGERPRINT.match(compact):
            return cls(fingerprint=compact)
        return cls(key=ProvisioningKey.from_b64url(text))

    @classmethod
    def of_key(cls, key: ProvisioningKey) -> ProvisioningTrust:
        """Trust exactly `key`."""
        return cls(key=key)

    @classmethod
    def on_first_use(cls) -> ProvisioningTrust:
        """Development only: trust the key the bank shows at first contact."""
        return cls(first_use=True)

    def accepts(self, key: ProvisioningKey) -> bool:
        """Whether `key` may be pinned (or used, when pinned before)."""
        if self.key is not None:
            return secrets.compare_digest(key.point, self.key.point)
        if self.fingerprint is not None:
            return secrets.compare_digest(key.fingerprint, self.fingerprint)
        return self.first_use

    @property
    def describe(self) -> str:
        """What the token trusts, for the log: a fingerprint, or "first use"."""
        if self.key is not None:
            return f"the configured key {self.key.fingerprint}"
        if self.fingerprint is not None:
            return f"the key of fingerprint {self.fingerprint}"
        return "the key shown at first contact (trust on first use: development only)"


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

"""A `HttpServerLink` on a token's file vault, talking to `MockBank` through MockTransport."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from device_firmware.core import ProvisionedCredential, device_id
from device_firmware.core.fakes import FakeClock
from device_firmware.link import (
    HttpServerLink,
    PinnedKeyFile,
    PinStore,
    ProvisioningKey,
    ProvisioningTrust,
)
from device_firmware.vault import FileVault
from tests.device_firmware.link.mock_bank import MockBank
from tests.device_firmware.vault_samples import TINY_COST

BANK_URL = "https://bank.test"
PASSWORD = "clave1"


@dataclass
class LinkRig:
    clock: FakeClock
    bank: MockBank
    vault: FileVault
    link: HttpServerLink

    @property
    def public_key(self) -> bytes:
        return self.vault.public_key()

    @property
    def device_id(self) -> device_id.DeviceId:
        return device_id.make(self.public_key)

    def register(self, username: str = "ana", password: str = PASSWORD) -> ProvisionedCredential:
        handle = self.link.start_registration(username, password, self.public_key, self.device_id)
        return self.link.confirm_registration(handle, self.bank.mailbox[username][-1])

    def requests_to(self, path: str) -> int:
        return sum(1 for r in self.bank.requests if r.url.path == path)


def make_link_rig(
    directory: Path,
    *,
    skew: float = 0.0,
    bank: MockBank | None = None,
    trust: ProvisioningTrust | None = None,
    pins: PinStore | None = None,
    clock: FakeClock | None = None,
) -> LinkRig:
    """A link to `bank` (a new one by default) from a token in `directory`.

    `trust` defaults to the bank's fingerprint, as a production token is configured: the
    key is read at first contact, checked against it, and pinned.
    """
    the_clock = clock or FakeClock()
    the_bank = bank or MockBank(now=lambda: the_clock.now() + skew)
    if not the_bank.customers:
        the_bank.add_customer("ana", PASSWORD, "Ana Pérez")
        the_bank.add_customer("beto", "s3cret", "Beto Ruiz")
    vault = FileVault(directory, kdf_cost=TINY_COST)
    fingerprint = ProvisioningKey(the_bank.published_key).fingerprint
    link = HttpServerLink(
        BANK_URL,
        token_key=vault.identity,
        pins=pins or PinnedKeyFile(vault.directory),
        clock=the_clock,
        trust=trust or ProvisioningTrust(fingerprint=fingerprint),
        transport=httpx.MockTransport(the_bank.handler),
    )
    return LinkRig(the_clock, the_bank, vault, link)


@pytest.fixture
def link_rig(tmp_path: Path) -> LinkRig:
    return make_link_rig(tmp_path / "token")

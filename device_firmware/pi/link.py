"""The token's link to the bank, made from `server_url` by one factory: `make_link`.

- ``server_url = "https://..."`` gives `HttpServerLink` (docs/protocol.md): requests signed
  with the vault's device key, bundles checked against the pinned provisioning key, seeds
  unwrapped on the token. The provisioning key is trusted as the configuration says
  (`ProvisioningTrust`: the key, its fingerprint, or trust on first use for development);
  without one the link is not made (see `device_firmware.link.pinning`). ``http://`` is
  accepted only to a loopback address (a server on the same machine, tests, `make token`).
- ``server_url = "demo:"`` gives `DemoBank`, the emulator's in-memory bank with its demo
  customers (ana / clave1, beto / s3cret), for a Pi on a bench. What the customer would read
  in the e-mail (the registration code) is written to the service's log
  (``journalctl -u otp-token``). Its codes are accepted by no real bank.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from device_firmware.core.device_id import DeviceId
from device_firmware.core.ports import Clock, ServerLink
from device_firmware.core.records import ProvisionedCredential, RegistrationHandle
from device_firmware.emulator.session import demo_bank
from device_firmware.link import (
    HttpServerLink,
    InsecureServerUrl,
    PinnedKeyFile,
    ProvisioningTrust,
)
from device_firmware.link.token_key import TokenKey
from device_firmware.pi.errors import LinkUnavailable

DEMO_URL = "demo:"
log = logging.getLogger(__name__)


class LinkVault(Protocol):
    """What the link needs of a vault (`FileVault`, `TpmVault`): its identity, its directory."""

    @property
    def directory(self) -> Path:
        """Where the pinned provisioning key is kept."""

    def identity(self) -> TokenKey:
        """The token's key, signing and agreeing keys without exposing itself."""


def make_link(
    server_url: str,
    clock: Clock,
    vault: LinkVault | None = None,
    *,
    trust: ProvisioningTrust | None = None,
) -> ServerLink:
    """The `ServerLink` for `server_url`.

    Args:
        server_url: the bank's https:// URL, or "demo:".
        clock: the token's clock.
        vault: the token's vault: its identity signs, its directory keeps the pinned key
            (needed for an http(s) URL).
        trust: how the bank's provisioning key is known (needed for an http(s) URL).

    Raises:
        LinkUnavailable: a URL of no known kind, plain http to another machine, or an
            http(s) URL without a vault or without a provisioning key to trust.
    """
    if server_url == DEMO_URL:
        return DemoBank(clock)
    if server_url.startswith(("https://", "http://")):
        if vault is None:
            raise LinkUnavailable(f"server_url {server_url!r}: the link needs the token's vault")
        if trust is None:
            raise LinkUnavailable(
                f"server_url {server_url!r}: the bank's provisioning key (or its fingerprint) "
                "must be configured: the token refuses to enroll without it"
            )
        log.info("provisioning key: trusting %s", trust.describe)
        try:
            return HttpServerLink(
                server_url,
                token_key=vault.identity,
                pins=PinnedKeyFile(vault.directory),
                clock=clock,
                trust=trust,
            )
        except InsecureServerUrl as exc:
            raise LinkUnavailable(f"server_url: {exc}") from exc
    raise LinkUnavailable(f'server_url {server_url!r} is neither an https:// URL nor "{DEMO_URL}"')


class DemoBank:
    """The `ServerLink` on the demo bank, writing the demo e-mails to the log.

    Args:
        clock: the bank's clock (the token's own: the demo bank has no skew).
    """

    def __init__(self, clock: Clock) -> None:
        self.bank = demo_bank(clock)

    def start_registration(
        self, username: str, password: str, public_key: bytes, device_id: DeviceId
    ) -> RegistrationHandle:
        """Check the demo login; "e-mail" the code to the log."""
        handle = self.bank.start_registration(username, password, public_key, device_id)
        code = self.bank.last_email_code(username)
        log.warning("demo bank: e-mail to %s: your code is %s", handle.masked_email, code)
        return handle

    def confirm_registration(
        self, handle: RegistrationHandle, email_code: str
    ) -> ProvisionedCredential:
        """Check the e-mailed code and provision a demo credential."""
        return self.bank.confirm_registration(handle, email_code)

    def redeem_activation(
        self, device_id: DeviceId, activation_code: str, public_key: bytes
    ) -> ProvisionedCredential:
        """Portal activation (the demo portal issues no codes: always refused)."""
        return self.bank.redeem_activation(device_id, activation_code, public_key)

    def delete_credential(self, credential_id: str) -> None:
        """Retire a demo credential."""
        self.bank.delete_credential(credential_id)

    def server_time(self) -> float:
        """The demo bank's time."""
        return self.bank.server_time()

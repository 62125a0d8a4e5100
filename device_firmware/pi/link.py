"""The token's link to the bank, made from `server_url` by one factory: `make_link`.

The HTTP `ServerLink` (signed requests, checked provisioning bundles, DESIGN.md §3) comes with
the enrollment protocol and does not exist yet. Until it does:

- ``server_url = "https://..."`` (or ``http://``) refuses to start with `LinkUnavailable`,
  saying so: a token that looked enrolled but could not reach any bank would be worse;
- ``server_url = "demo:"`` gives `DemoBank`, the emulator's in-memory bank with its demo
  customers (ana / clave1, beto / s3cret), for a Pi on a bench. What the customer would read
  in the e-mail (the registration code) is written to the service's log
  (``journalctl -u otp-token``). Its codes are accepted by no real bank.

When the HTTP link lands, `make_link` returns it for http(s) URLs; nothing else changes.
"""

from __future__ import annotations

import logging

from device_firmware.core.device_id import DeviceId
from device_firmware.core.ports import Clock, ServerLink
from device_firmware.core.records import ProvisionedCredential, RegistrationHandle
from device_firmware.emulator.session import demo_bank
from device_firmware.pi.errors import LinkUnavailable

DEMO_URL = "demo:"
log = logging.getLogger(__name__)


def make_link(server_url: str, clock: Clock) -> ServerLink:
    """The `ServerLink` for `server_url`.

    Raises:
        LinkUnavailable: an http(s) URL (the HTTP link is not available yet), or a URL of
            no known kind.
    """
    if server_url == DEMO_URL:
        return DemoBank(clock)
    if server_url.startswith(("https://", "http://")):
        raise LinkUnavailable(
            f"server_url {server_url!r}: the HTTP link to the bank is not available yet "
            "(it comes with the enrollment protocol, docs/protocol.md); "
            f'set server_url = "{DEMO_URL}" to try the token with the demo bank'
        )
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

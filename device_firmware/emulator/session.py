"""An emulator session: the core, its bank, and the keys only a desktop has.

The bank is the one given (`HttpServerLink` to a real server with ``--server URL``), or else
a demo bank in memory (`FakeServerLink` with two customers). Besides the keypad keys, three
keys play the parts of the world around the token: ``m`` reads the customer's mailbox (the
e-mailed code) and ``p`` opens the bank's portal (an activation code for this token's
device ID), both on the demo bank only (with a real server the code arrives by real e-mail
and the portal is the bank's web page); ``q`` quits.
"""

from __future__ import annotations

from typing import TextIO

from device_firmware.core import Token, TokenConfig, device_id
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.ports import Clock, Display, ServerLink, Vault
from device_firmware.emulator.terminal import key_for

DEMO_USERS = (
    ("ana", "clave1", "ana@correo.com", "Ana Pérez"),
    ("beto", "s3cret", "beto@correo.com", "Beto Ruiz"),
)
SIGNING_USERS = frozenset({"ana"})
"""Demo users whose bank has enabled transaction signing (beto shows a user without it)."""
REAL_BANK_HINT = "[bank] the e-mail and the portal are the bank's own: read your mailbox\n"


def demo_bank(clock: Clock) -> FakeServerLink:
    """A bank in memory with the demo customers."""
    bank = FakeServerLink(clock)
    for username, password, email, name in DEMO_USERS:
        bank.add_user(username, password, email, name, signs_transfers=username in SIGNING_USERS)
    return bank


class EmulatorSession:
    """One run of the emulator.

    Args:
        display: where frames go.
        clock: the time.
        vault: the token's storage.
        out: where the mailbox and portal print what the customer would read elsewhere.
        link: the bank; None for the demo bank in memory.
        trust_on_first_use: the link pins the bank's key at first contact (the
            ``--dev-trust-on-first-use`` flag): the screens say so.
    """

    def __init__(
        self,
        *,
        display: Display,
        clock: Clock,
        vault: Vault,
        out: TextIO,
        link: ServerLink | None = None,
        trust_on_first_use: bool = False,
    ) -> None:
        self.bank: FakeServerLink | None = None
        if link is None:
            self.bank = link = demo_bank(clock)
        config = TokenConfig(
            vault_protection=vault.protection, trust_on_first_use=trust_on_first_use
        )
        self.token = Token(display=display, clock=clock, vault=vault, link=link, config=config)
        self.out = out
        self.running = True

    def start(self) -> None:
        """Switch the token on."""
        self.token.start()

    def type(self, char: str) -> None:
        """A character typed on the computer: a keypad key, or m, p, q."""
        key = key_for(char)
        if key is not None:
            self.token.handle(key)
        elif char == "q":
            self.running = False
        elif char in ("m", "p"):
            if self.bank is None:
                self.out.write(REAL_BANK_HINT)
            elif char == "m":
                self._mailbox(self.bank)
            else:
                self._portal(self.bank)

    def tick(self) -> None:
        """Let time pass."""
        self.token.tick()

    def _mailbox(self, bank: FakeServerLink) -> None:
        for _, _, email, _ in DEMO_USERS:
            codes = bank.mailbox.get(email)
            if codes:
                self.out.write(f"[mail] {email}: {codes[-1]}\n")

    def _portal(self, bank: FakeServerLink) -> None:
        found = self.token.state.session.device_id
        if found is None:
            return
        username = DEMO_USERS[0][0]
        code = bank.portal_activation_code(username, found)
        shown = device_id.format(found)
        self.out.write(f"[portal] {username}, device ID {shown}: activation code {code}\n")

"""An emulator session: the core, a demo bank, and the keys only a desktop has.

Until the HTTP `ServerLink` exists, the emulator talks to a demo bank in memory
(`FakeServerLink` with two customers). Besides the keypad keys, three keys play the parts of
the world around the token: ``m`` reads the customer's mailbox (the e-mailed code), ``p``
opens the bank's portal (an activation code for this token's device ID), ``q`` quits.
"""

from __future__ import annotations

from typing import TextIO

from device_firmware.core import Token, device_id
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.ports import Clock, Display, Vault
from device_firmware.emulator.terminal import key_for

DEMO_USERS = (
    ("ana", "clave1", "ana@correo.com", "Ana Pérez"),
    ("beto", "s3cret", "beto@correo.com", "Beto Ruiz"),
)


def demo_bank(clock: Clock) -> FakeServerLink:
    """A bank in memory with the demo customers."""
    bank = FakeServerLink(clock)
    for username, password, email, name in DEMO_USERS:
        bank.add_user(username, password, email, name)
    return bank


class EmulatorSession:
    """One run of the emulator.

    Args:
        display: where frames go.
        clock: the time.
        vault: the token's storage.
        out: where the mailbox and portal print what the customer would read elsewhere.
    """

    def __init__(self, *, display: Display, clock: Clock, vault: Vault, out: TextIO) -> None:
        self.bank = demo_bank(clock)
        self.token = Token(display=display, clock=clock, vault=vault, link=self.bank)
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
        elif char == "m":
            self._mailbox()
        elif char == "p":
            self._portal()

    def tick(self) -> None:
        """Let time pass."""
        self.token.tick()

    def _mailbox(self) -> None:
        for _, _, email, _ in DEMO_USERS:
            codes = self.bank.mailbox.get(email)
            if codes:
                self.out.write(f"[mail] {email}: {codes[-1]}\n")

    def _portal(self) -> None:
        found = self.token.state.session.device_id
        if found is None:
            return
        username = DEMO_USERS[0][0]
        code = self.bank.portal_activation_code(username, found)
        shown = device_id.format(found)
        self.out.write(f"[portal] {username}, device ID {shown}: activation code {code}\n")

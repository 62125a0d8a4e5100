"""The core on the HTTP link (bank in memory behind MockTransport): keys in, screens out."""

from __future__ import annotations

from pathlib import Path

import httpx

from device_firmware.core import CodeScreen, Key, MenuScreen, MessageScreen, Token, Tone, transfers
from device_firmware.core.fakes import FakeClock, FakeDisplay
from device_firmware.core.state import EnterUsername, ShowCode
from device_firmware.core.text_entry import LETTERS
from device_firmware.link import (
    HttpServerLink,
    PinnedKeyFile,
    ProvisioningKey,
    ProvisioningTrust,
)
from device_firmware.vault import FileVault
from tests.device_firmware.link.mock_bank import MockBank
from tests.device_firmware.vault_samples import TINY_COST
from tests.oracles import oath_ocra, oathtool_totp


def _token(
    tmp_path: Path, trust: ProvisioningTrust | None = None
) -> tuple[Token, MockBank, FakeDisplay, FakeClock]:
    clock = FakeClock()
    bank = MockBank(now=lambda: clock.now() + 17.0)
    bank.add_customer("ana", "clave1", "Ana Pérez")
    vault = FileVault(tmp_path / "token", kdf_cost=TINY_COST)
    link = HttpServerLink(
        "https://bank.test",
        token_key=vault.identity,
        pins=PinnedKeyFile(vault.directory),
        clock=clock,
        trust=trust or ProvisioningTrust.of_key(ProvisioningKey(bank.published_key)),
        transport=httpx.MockTransport(bank.handler),
    )
    display = FakeDisplay()
    token = Token(display=display, clock=clock, vault=vault, link=link)
    token.start()
    return token, bank, display, clock


def _type(token: Token, text: str) -> None:
    for index, char in enumerate(text):
        key = next(k for k, letters in LETTERS.items() if char in letters)
        for _ in range(LETTERS[key].index(char) + 1):
            token.handle(key)
        following = text[index + 1 : index + 2]
        if following and following in LETTERS[key]:
            token.handle(Key.B)  # fix the letter before typing another on the same key


def _press(token: Token, keys: str) -> None:
    for char in keys:
        token.handle(Key.parse(char))


def test_a_wrong_password_is_said_in_plain_words(tmp_path: Path) -> None:
    token, _, display, _ = _token(tmp_path)
    _press(token, "1")
    _type(token, "ana")
    _press(token, "#")
    _type(token, "clave2")
    _press(token, "#")
    screen = display.current
    assert isinstance(screen, MessageScreen) and screen.tone is Tone.ERROR
    assert "usuario" in " ".join(screen.body).lower()
    _press(token, "#")
    assert isinstance(token.state.place, EnterUsername)


def test_registration_through_the_core_shows_oathtools_code(tmp_path: Path) -> None:
    token, bank, display, clock = _token(tmp_path)
    _press(token, "1")
    _type(token, "ana")
    _press(token, "#")
    _type(token, "clave1")
    _press(token, "#")
    _press(token, bank.mailbox["ana"][-1] + "#")
    _press(token, "2580#2580#")
    assert isinstance(token.state.place, ShowCode)
    screen = display.current
    assert isinstance(screen, CodeScreen)
    data = token.state.session.data
    assert data is not None
    assert round(data.clock_offset) == 17
    seed = data.credentials[0].seed
    assert seed == bank.seeds[data.credentials[0].credential_id]
    expected = oathtool_totp(seed, "SHA1", 6, 60, int(clock.now() + data.clock_offset))
    assert screen.code.replace(" ", "") == expected


def test_a_bank_key_of_another_fingerprint_is_refused_in_plain_words(tmp_path: Path) -> None:
    expected = ProvisioningKey(MockBank(now=lambda: 0.0).published_key).fingerprint
    token, bank, display, _ = _token(tmp_path, ProvisioningTrust(fingerprint=expected))
    _press(token, "1")
    _type(token, "ana")
    _press(token, "#")
    _type(token, "clave1")
    _press(token, "#")
    screen = display.current
    assert isinstance(screen, MessageScreen) and screen.tone is Tone.ERROR
    assert screen.body == ("La respuesta del banco no pudo verificarse. Intente de nuevo o "
                           "llame a su banco.",)  # fmt: skip
    assert "ana" not in bank.mailbox  # the password was never sent
    assert not (tmp_path / "token" / "provisioning-key.json").exists()


def test_a_bank_that_sends_an_ocra_seed_lets_the_token_sign_a_transfer(tmp_path: Path) -> None:
    """The OCRA seed from a real bundle, sealed in the file vault, signs through the core."""
    token, bank, display, clock = _token(tmp_path)
    bank.signs_transfers = True
    _press(token, "1")
    _type(token, "ana")
    _press(token, "#")
    _type(token, "clave1")
    _press(token, "#")
    _press(token, bank.mailbox["ana"][-1] + "#")
    _press(token, "2580#2580#")
    _press(token, "#")  # from the first code to ana's menu
    assert isinstance(display.current, MenuScreen)
    _press(token, "2" + "1250D5#" + "00054321#" + "#")
    screen = display.current
    assert isinstance(screen, CodeScreen)
    data = token.state.session.data
    assert data is not None
    credential = data.credentials[0]
    assert credential.ocra_seed == bank.ocra_seeds[credential.credential_id]
    bank_time = clock.now() + data.clock_offset
    question = "00000012505000054321"
    expected = oath_ocra(transfers.SUITE, credential.ocra_seed, question,
                         time_step=int(bank_time // 60))  # fmt: skip
    assert screen.code.replace(" ", "") == expected

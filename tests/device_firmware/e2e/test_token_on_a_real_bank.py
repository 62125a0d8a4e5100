"""End to end: emulated tokens (the Pi's core, a file vault, the HTTP link) against the real
server on loopback (uvicorn subprocess, SoftHSM, SQLite, e-mail through aiosmtpd).

One token enrols three customers: two by self-registration (username and password typed by
multi-tap, the e-mailed code read from the mailbox) and one by portal activation (the test
plays the portal). Each code the token shows is oathtool's for that seed and time, and the
bank's verify API accepts it. Deleting a user on the token retires the credential at the
bank; a second token replaces a customer's first only with a code from it (the password and
the mailbox alone are refused). And the
emulator command itself (``--emulator --server URL --capture DIR``) activates a fourth.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_firmware.core import Credential, device_id
from device_firmware.core.screens import CodeScreen, MessageScreen
from device_firmware.core.state import UserList, UserMenu
from device_firmware.emulator.text_frame import WIDTH
from device_firmware.vault import FileVault
from server.domain.verification.transfers import SUITE
from tests.conftest import SoftHsmTokens
from tests.device_firmware.e2e.conftest import (
    NEW_TOKEN_MAIL,
    PIN,
    REGISTRATION_MAIL,
    Bank,
    Customer,
    EmulatedToken,
)
from tests.oracles import oath_ocra, oathtool_totp

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not

ANA, BETO, CARO = "Ana Pérez", "Beto Ruiz", "Caro Díaz"


@pytest.fixture(scope="module")
def first_token(
    bank: Bank, on_tpm: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatedToken]:
    """A token with Ana and Beto registered and Caro activated through the portal."""
    token = EmulatedToken(tmp_path_factory.mktemp("token-a"), bank, tpm=on_tpm)
    token.register(bank.customers[ANA], first=True)
    token.add_user()
    token.register(bank.customers[BETO], first=False)
    token.add_user()
    token.activate(bank.customers[CARO], first=False)
    yield token
    token.close()


def _oathtool(credential: Credential, bank_time: float) -> str:
    return oathtool_totp(
        credential.seed,
        credential.algorithm.value,
        credential.digits,
        credential.period,
        int(bank_time),
    )


def _shown_code_is_oathtools(token: EmulatedToken, customer: Customer) -> tuple[Credential, float]:
    token.show_code_of(customer)
    code, bank_time = token.current_code()
    credential = token.credentials()[customer.username]
    assert code == _oathtool(credential, bank_time)
    return credential, bank_time


def _next_code(token: EmulatedToken, credential: Credential, bank_time: float) -> str:
    """The code the token will show in the next step (within the bank's ±1 window now)."""
    code = _oathtool(credential, bank_time + credential.period)
    token.bank.secrets.add(code)
    return code


def test_the_token_holds_the_three_users_and_pinned_the_bank(first_token: EmulatedToken) -> None:
    customers = first_token.bank.customers
    held = first_token.credentials()
    assert set(held) == {customers[name].username for name in (ANA, BETO, CARO)}
    assert {c.issuer for c in held.values()} == {"Banco de Pruebas"}
    assert len({c.credential_id for c in held.values()}) == 3
    assert (first_token.vault.directory / "provisioning-key.json").exists()
    assert abs(first_token.token.state.session.data.clock_offset) < 2  # type: ignore[union-attr]


@pytest.mark.parametrize("name", [ANA, BETO, CARO])
def test_each_code_shown_is_oathtools_and_the_bank_accepts_it(
    first_token: EmulatedToken, bank: Bank, name: str
) -> None:
    customer = bank.customers[name]
    _shown_code_is_oathtools(first_token, customer)
    code, _ = first_token.current_code()
    assert bank.verify(customer, code) == "accepted"


def test_a_transfer_signed_on_the_token_is_approved_once_and_only_as_typed(
    first_token: EmulatedToken, bank: Bank
) -> None:
    """The customer types 1.250,00 and the payee's last 8 digits on the token's keypad
    ("Firmar operación"), confirms, and reads the response out: python-oath computes the
    same from the OCRA seed the bank provisioned; the bank approves that transfer once, and
    no other amount or payee with it (the phishing relay)."""
    ana = bank.customers[ANA]
    first_token.to_user_list()
    first_token.press(str(list(first_token.credentials()).index(ana.username) + 1))
    assert isinstance(first_token.token.state.place, UserMenu)
    first_token.press("2")  # "Firmar operación"
    first_token.press("1250D00#" + "00054321#")  # the amount, D the decimal comma; the payee
    first_token.press("#")  # "Transferir 1.250,00 a ...4321 ?" yes
    screen = first_token.screen
    assert isinstance(screen, CodeScreen), screen
    response = screen.code.replace(" ", "")
    bank.secrets.add(response)
    credential = first_token.credentials()[ana.username]
    assert credential.ocra_seed is not None
    bank.secrets.add(credential.ocra_seed.hex())
    data = first_token.token.state.session.data
    assert data is not None
    bank_time = first_token.clock.now() + data.clock_offset
    steps = {int(bank_time // 60) + d for d in (-1, 0)}  # shown just before, or now
    assert response in {
        oath_ocra(SUITE, credential.ocra_seed, "00000012500000054321", time_step=t) for t in steps
    }
    payee = "ES91 2100 0418 4502 0005 4321"
    assert bank.approve_transfer(ana, response, "1250.01", payee) == "rejected"
    assert bank.approve_transfer(ana, response, "1250.00", "ES91 2100 0418 4502 0005 4322") == (
        "rejected"
    )
    assert bank.approve_transfer(ana, response, "1250.00", payee) == "accepted"
    assert bank.approve_transfer(ana, response, "1250.00", payee) == "rejected"  # a replay


def test_deleting_a_user_on_the_token_retires_it_at_the_bank(
    first_token: EmulatedToken, bank: Bank
) -> None:
    beto, caro = bank.customers[BETO], bank.customers[CARO]
    beto_credential, bank_time = _shown_code_is_oathtools(first_token, beto)
    caro_credential = first_token.credentials()[caro.username]
    first_token.to_user_list()
    users = len(first_token.credentials())
    first_token.press(str(users + 2))  # "Eliminar usuario"
    position = list(first_token.credentials()).index(beto.username) + 1
    first_token.press(str(position))  # X on Beto
    first_token.press("1")  # "Sí"
    assert isinstance(first_token.token.state.place, UserList)
    assert beto.username not in first_token.credentials()
    assert bank.verify(beto, _next_code(first_token, beto_credential, bank_time)) == "rejected"
    # The same code one step ahead is good for a user who was not deleted:
    assert bank.verify(caro, _next_code(first_token, caro_credential, bank_time)) == "accepted"


def test_a_second_token_replaces_the_first_only_with_a_code_from_it(
    first_token: EmulatedToken, bank: Bank, on_tpm: bool, tmp_path: Path
) -> None:
    """The attacker has Ana's password and mailbox and a token of their own: self-registration
    is refused before any e-mail, and the token says how a real replacement goes. Ana
    replaces her token in the portal with a code from it, and the first token is retired."""
    ana = bank.customers[ANA]
    on_first, bank_time = _shown_code_is_oathtools(first_token, ana)
    notices = bank.inbox.count(ana.email, NEW_TOKEN_MAIL)
    codes_mailed = bank.inbox.count(ana.email, REGISTRATION_MAIL)

    attacker = EmulatedToken(tmp_path / "token-x", bank, tpm=on_tpm)
    try:
        attacker.press("1")  # "Registrarme con mi usuario"
        attacker.type_text(ana.username)
        attacker.press("#")
        attacker.type_text(ana.password)
        attacker.press("#")
        screen = attacker.screen
        assert isinstance(screen, MessageScreen) and screen.tone == "error", screen
        assert "portal con un código de ese token" in " ".join(screen.body)
        assert bank.inbox.count(ana.email, REGISTRATION_MAIL) == codes_mailed
        assert attacker.token.state.session.data is None  # nothing was ever enrolled
    finally:
        attacker.close()

    second = EmulatedToken(tmp_path / "token-b", bank, tpm=on_tpm)
    try:
        assert second.token.state.session.device_id != first_token.token.state.session.device_id
        second.activate(ana, first=True, current_code=_next_code(first_token, on_first, bank_time))
        on_second, _ = _shown_code_is_oathtools(second, ana)
        assert on_second.seed != on_first.seed
        code, _ = second.current_code()
        assert bank.verify(ana, code) == "accepted"
    finally:
        second.close()
    bank.inbox.wait(ana.email, NEW_TOKEN_MAIL, notices)  # "your previous token no longer..."


def test_the_emulator_command_activates_on_the_bank(
    bank: Bank, tokens: SoftHsmTokens, tmp_path: Path
) -> None:
    """``python -m device_firmware --emulator --server URL --capture DIR``, keys on stdin."""
    dora = bank.customers["Dora Luz"]
    vault_dir, frames = tmp_path / "token", tmp_path / "frames"
    shown_id = device_id.format(device_id.make(FileVault(vault_dir).public_key()))
    _, code = bank.portal_activation(dora, shown_id)
    keys = "2#" + code.replace(" ", "") + "#" + "#" + f"{PIN}#{PIN}#" + "q"
    # as `make token` does, the bank's HSM tells what to configure (here the fingerprint: the
    # token then reads the key at first contact, checks it, and pins it)
    key = subprocess.run(
        [sys.executable, "-m", "hsm", "--token-label", tokens.main.label, "provisioning-key",
         "--fingerprint"],
        env={**os.environ, **tokens.main.env, "OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file)},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "device_firmware", "--emulator", "--server", bank.url,
         "--provisioning-key", key, "--dir", str(vault_dir), "--capture", str(frames)],
        input=keys, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "desarrollo" not in out.stdout  # the key is built in: no development marker
    assert shown_id in out.stdout and "Sincronizado" in out.stdout
    last_frame = out.stdout.rsplit("Su código", 1)[1]
    assert dora.display_name in last_frame
    found = re.search(r"\|\s+(\d{3}) (\d{3})\s+\|", last_frame)
    assert found, last_frame
    assert bank.verify(dora, found.group(1) + found.group(2)) == "accepted"
    assert key in (vault_dir / "provisioning-key.json").read_text()
    rule = "+" + "-" * (WIDTH - 2) + "+"
    text_frames = out.stdout.splitlines().count(rule) // 2
    assert len(list(frames.glob("frame-*.png"))) == text_frames

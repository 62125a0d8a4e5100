"""A token on fake ports (clock, display, vault, bank) and the key sequences a customer types."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from device_firmware.core import Key, MessageScreen, Screen, Token, TokenConfig, Vault, render
from device_firmware.core.catalog import Language
from device_firmware.core.device_id import DeviceId
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.fakes import DEFAULT_START, FakeClock, FakeDisplay, FakeVault
from device_firmware.core.records import TokenData, VaultProtection
from device_firmware.core.state import About, Place, Session, State
from device_firmware.core.text_entry import LETTERS
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.vault import FileVault
from device_firmware.vault.tpm import Tpm
from device_firmware.vault.tpm_vault import TpmVault
from tests.device_firmware.vault_samples import TINY_COST

PIN = "2580"
MULTITAP_TIMEOUT = 1.0
ABOUT_DEVICE_ID = DeviceId("1020584050721040")  # 16 digits: the longest device ID line
S = TypeVar("S", bound=Screen)


@dataclass
class Rig:
    """A started token and everything around it."""

    clock: FakeClock
    display: FakeDisplay
    vault: Vault
    bank: FakeServerLink
    token: Token

    @property
    def screen(self) -> Screen:
        return self.display.current

    def shown(self, kind: type[S]) -> S:
        """The current screen, checked to be a `kind`."""
        screen = self.display.current
        assert isinstance(screen, kind)
        return screen

    @property
    def place(self) -> Place:
        return self.token.state.place

    @property
    def device_id(self) -> DeviceId:
        found = self.token.state.session.device_id
        assert found is not None
        return found

    def press(self, keys: str) -> None:
        """Press each key printed in `keys` (e.g. "1234#")."""
        for char in keys:
            self.token.handle(Key.parse(char))

    def type_text(self, text: str) -> None:
        """Type `text` with multi-tap (lower case, digits in abc mode, symbols on 1 and 0)."""
        for key, presses in taps(text):
            for _ in range(presses):
                self.token.handle(key)
            self.clock.advance(MULTITAP_TIMEOUT)  # let the letter settle

    def restart(self, vault: Vault | None = None) -> None:
        """Power off and on: a new core on the same ports (the vault's storage survives)."""
        self.vault.lock()  # memory does not survive a power cycle
        self.vault = vault or self.vault
        self.token = Token(display=self.display, clock=self.clock, vault=self.vault, link=self.bank)
        self.token.start()


def taps(text: str) -> list[tuple[Key, int]]:
    """The (key, presses) that type `text` on the multi-tap keypad in lower-case mode."""
    out = []
    for char in text:
        key = next(k for k, letters in LETTERS.items() if char in letters)
        out.append((key, LETTERS[key].index(char) + 1))
    return out


def make_rig(
    vault: Vault | None = None,
    *,
    attempts_allowed: int = 1,
    skew: float = 0.0,
    trust_on_first_use: bool = False,
) -> Rig:
    clock = FakeClock()
    bank = FakeServerLink(clock, skew=skew)
    bank.add_user("ana", "clave1", "ana@correo.com", "Ana Pérez")
    bank.add_user("beto", "s3cret", "beto@correo.com", "Beto Ruiz")
    bank.add_user("caro", "caro.99", "caro@correo.com", "Caro Díaz")
    display = FakeDisplay()
    the_vault = vault or FakeVault(attempts_allowed=attempts_allowed)
    token = Token(
        display=display,
        clock=clock,
        vault=the_vault,
        link=bank,
        config=TokenConfig(
            multitap_timeout=MULTITAP_TIMEOUT,
            vault_protection=the_vault.protection,  # as the Pi service and the emulator do
            trust_on_first_use=trust_on_first_use,
        ),
    )
    token.start()
    return Rig(clock, display, the_vault, bank, token)


def type_login(rig: Rig, username: str, password: str, *, from_welcome: bool = True) -> None:
    """Self-registration up to the typed password, not yet sent (# sends it)."""
    if from_welcome:
        rig.press("1")  # "Registrarme con mi usuario"
    rig.type_text(username)
    rig.press("#")
    rig.type_text(password)


def register(rig: Rig, username: str, password: str, *, from_welcome: bool = True) -> None:
    """Self-registration up to the point the bank has provisioned (PIN next, if first user)."""
    type_login(rig, username, password, from_welcome=from_welcome)
    rig.press("#")
    rig.press(rig.bank.last_email_code(username) + "#")


def activate(rig: Rig, username: str) -> None:
    """Portal activation: read the device ID, get the portal's code, type it."""
    rig.press("2")  # "Activar con un código"
    code = rig.bank.portal_activation_code(username, rig.device_id)
    rig.press("#" + code + "#")


def define_pin(rig: Rig, pin: str = PIN) -> None:
    rig.press(pin + "#" + pin + "#")


VAULT_KINDS = (
    "fake",
    pytest.param("file", marks=pytest.mark.slow),
    pytest.param("tpm", marks=pytest.mark.slow),
)
"""Every test of the token suite that takes `rig`, `rig_factory` or `enrolled` runs on each:
the core's fake, the file vault and the TPM vault (a software TPM per test). `make test`
runs all three; a plain `pytest` the fake only (the real vaults keep their own tests in
its run: the contract, `test_file_vault`, `tpm/`)."""


@pytest.fixture(params=VAULT_KINDS)
def vault_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_vault(
    vault_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[int], Vault]:
    """`new_vault(attempts_allowed)`: a vault of this run's kind; the file and TPM vaults
    made by two calls share their storage (as after a power cycle)."""
    tpm = Tpm(request.getfixturevalue("swtpm").tcti) if vault_kind == "tpm" else None

    def make(attempts_allowed: int = 1) -> Vault:
        if vault_kind == "file":
            return FileVault(
                tmp_path / "sd-card", attempts_allowed=attempts_allowed, kdf_cost=TINY_COST
            )
        if tpm is not None:
            return TpmVault(tmp_path / "sd-card", tpm, attempts_allowed=attempts_allowed)
        return FakeVault(attempts_allowed=attempts_allowed)

    return make


@pytest.fixture
def rig_factory(new_vault: Callable[[int], Vault]) -> Callable[..., Rig]:
    """`make(attempts_allowed=1, skew=0.0, trust_on_first_use=False)` on this run's vault."""

    def make(attempts_allowed: int = 1, **options: Any) -> Rig:
        return make_rig(new_vault(attempts_allowed), attempts_allowed=attempts_allowed, **options)

    return make


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    """A brand-new token (first start), its vault allowing 1 PIN attempt."""
    return rig_factory()


@pytest.fixture
def enrolled(rig_factory: Callable[..., Rig]) -> Rig:
    """A token with two users (ana by registration, beto added), unlocked, on the user list."""
    return enrol_two(rig_factory(attempts_allowed=3))


@pytest.fixture
def fake_rig() -> Rig:
    """A brand-new token on the `FakeVault`, for tests that inject its faults."""
    return make_rig()


@pytest.fixture
def fake_rig_factory() -> Callable[..., Rig]:
    return make_rig


@pytest.fixture
def fake_enrolled() -> Rig:
    """`enrolled` on the `FakeVault`, for tests that inject its faults."""
    return enrol_two(make_rig(attempts_allowed=3))


def enrol_two(rig: Rig) -> Rig:
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C")  # from ana's code to the user list
    rig.press(str(1 + 1))  # user list: item 2 is "Agregar otro usuario" with one user
    register(rig, "beto", "s3cret")
    rig.press("C")
    return rig


def saved_data(rig: Rig) -> TokenData | None:
    """What the token's vault holds now, read as a power cycle would (right PIN)."""
    vault = rig.vault
    if isinstance(vault, FakeVault):
        return vault.stored
    if not vault.status().exists:
        return None
    twin: Vault
    if isinstance(vault, TpmVault):
        twin = TpmVault(vault.directory, vault.tpm, attempts_allowed=vault.attempts_allowed)
    else:
        assert isinstance(vault, FileVault)
        twin = FileVault(
            vault.directory, attempts_allowed=vault.attempts_allowed, kdf_cost=TINY_COST
        )
    return twin.unlock(PIN)


def about_screens() -> list[tuple[str, MessageScreen]]:
    """The About screen in every language, for each vault and with trust on first use."""
    screens = []
    for language in Language:
        for protection in VaultProtection:
            for first_use in (False, True):
                config = TokenConfig(vault_protection=protection, trust_on_first_use=first_use)
                session = Session(language=language, device_id=ABOUT_DEVICE_ID)
                screen = render(State(About(), session, config), DEFAULT_START)
                assert isinstance(screen, MessageScreen)
                name = f"{language.value}-{protection.value}{'-tofu' if first_use else ''}"
                screens.append((name, screen))
    return screens


@pytest.fixture
def swtpm(tmp_path: Path) -> Iterator[SoftwareTpm]:
    """A new software TPM, never owned, its state under the test's directory."""
    tpm = SoftwareTpm(tmp_path / "swtpm-state")
    tpm.start()
    yield tpm
    tpm.stop()

"""The token: the pure state machine wired to its ports.

`Token` keeps the current `State`, turns key presses and clock ticks into events, runs
`machine.step`, shows `render(state, now)` when it changed, and performs each effect through
a port, feeding the outcome back as the next event. Port errors in the `TokenError` tree
become events (and so screens); nothing else is caught, so a bug still fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable

from device_firmware.core.errors import LinkError, VaultError, WrongPin
from device_firmware.core.keys import Key
from device_firmware.core.machine import step
from device_firmware.core.ports import Clock, ClockCheck, Display, Keypad, ServerLink, Vault
from device_firmware.core.render import render
from device_firmware.core.screens import Screen
from device_firmware.core.state import (
    ShowCode,
    State,
    TokenConfig,
)
from device_firmware.core.transitions import (
    ConfirmRegistration,
    CreateVault,
    CredentialDeleted,
    DeleteCredential,
    Effect,
    Event,
    FetchServerTime,
    KeyPressed,
    LinkFailed,
    LockVault,
    OpenVault,
    PinRejected,
    Provisioned,
    RedeemActivation,
    RegistrationStarted,
    SaveLanguage,
    SaveVault,
    ServerTimeLearned,
    Started,
    StartRegistration,
    Tick,
    Unlocked,
    UnlockVault,
    VaultFailed,
    VaultOpened,
    VaultSaved,
    WipeVault,
)

TICK_INTERVAL = 0.25


class Token:
    """The token's core with its ports: call `start()`, then `handle(key)` and `tick()`.

    Args:
        display: receives every new screen model.
        clock: the only source of time.
        vault: the protected storage.
        link: the bank.
        config: PIN length, multi-tap timeout, version.
        clock_check: whether the clock is set; codes are shown only while it says so
            (None: the clock is always trusted, as in the emulator and most tests).
    """

    def __init__(
        self,
        *,
        display: Display,
        clock: Clock,
        vault: Vault,
        link: ServerLink,
        config: TokenConfig | None = None,
        clock_check: ClockCheck | None = None,
    ) -> None:
        self._display = display
        self._clock = clock
        self._vault = vault
        self._link = link
        self._clock_check = clock_check
        self._state = State(config=config or TokenConfig())
        self._shown: Screen | None = None

    @property
    def state(self) -> State:
        """The current state (read-only; for tests, logs and front ends)."""
        return self._state

    @property
    def screen(self) -> Screen | None:
        """The screen last sent to the display."""
        return self._shown

    def start(self) -> None:
        """Switch on: open the vault and show the first screen."""
        self._dispatch(Started())

    def handle(self, key: Key) -> None:
        """A key was pressed."""
        self._dispatch(KeyPressed(key, self._clock.now()))

    def tick(self) -> None:
        """Let time pass: fixes multi-tap letters, moves countdowns and codes on."""
        self._dispatch(Tick(self._clock.now()))

    def _dispatch(self, event: Event) -> None:
        transition = step(self._state, event)
        self._state = transition.state
        self._refresh()
        for effect in transition.effects:
            outcome = self._perform(effect)
            if outcome is not None:
                self._dispatch(outcome)

    def _refresh(self) -> None:
        # only a code needs a trusted clock: ask the check (a file, an RTC) only then
        clock_set = (
            self._clock_check is None
            or not isinstance(self._state.place, ShowCode)
            or self._clock_check.is_set()
        )
        screen = render(self._state, self._clock.now(), clock_set=clock_set)
        if screen != self._shown:
            self._shown = screen
            self._display.show(screen)

    def _perform(self, effect: Effect) -> Event | None:
        try:
            return self._perform_or_raise(effect)
        except WrongPin as exc:
            return PinRejected(exc.attempts_remaining)
        except VaultError as exc:
            return VaultFailed(exc)
        except LinkError as exc:
            return LinkFailed(exc)

    def _perform_or_raise(self, effect: Effect) -> Event | None:
        vault, link, clock = self._vault, self._link, self._clock
        match effect:
            case OpenVault():
                return VaultOpened(vault.status(), vault.public_key())
            case UnlockVault(pin=pin):
                return Unlocked(vault.unlock(pin))
            case CreateVault(pin=pin, data=data):
                vault.create(pin, data)
                return VaultSaved()
            case SaveVault(data=data):
                vault.save(data)
                return VaultSaved()
            case LockVault():
                vault.lock()
                return None
            case WipeVault():
                vault.wipe()
                return VaultOpened(vault.status(), vault.public_key())
            case SaveLanguage(language=language):
                vault.set_language(language)
                return None
            case StartRegistration(username=u, password=p, public_key=k, device_id=d):
                return RegistrationStarted(link.start_registration(u, p, k, d))
            case ConfirmRegistration(handle=handle, email_code=code):
                return Provisioned(link.confirm_registration(handle, code), clock.now())
            case RedeemActivation(device_id=d, activation_code=code, public_key=k):
                return Provisioned(link.redeem_activation(d, code, k), clock.now())
            case DeleteCredential(credential_id=credential_id):
                link.delete_credential(credential_id)
                return CredentialDeleted(credential_id)
            case FetchServerTime():
                before = clock.now()
                server_time = link.server_time()
                # The bank read its clock somewhere during the round trip: take the middle.
                return ServerTimeLearned(server_time, (before + clock.now()) / 2)
        return None


def run(
    token: Token,
    keypad: Keypad,
    *,
    keep_going: Callable[[], bool],
    tick_interval: float = TICK_INTERVAL,
) -> None:
    """Drive `token` from `keypad` while `keep_going()`: each key when pressed, ticks between.

    Args:
        token: the core, not yet started.
        keypad: where keys come from.
        keep_going: asked before each wait; the loop ends when it returns False.
        tick_interval: the longest wait for a key before a tick.
    """
    token.start()
    while keep_going():
        key = keypad.read_key(tick_interval)
        if key is None:
            token.tick()
        else:
            token.handle(key)

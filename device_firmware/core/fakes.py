"""Fakes of the core's ports, for tests and the emulator: display, clock, keypad, vault.

Each behaves like the real adapter in everything the core can observe (the vault's counting
of PIN attempts, wipes and new identities, its errors) and lets a test look inside or
script a failure. The bank's fake is in `core.fake_link`.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable

from device_firmware.core.catalog import Language
from device_firmware.core.errors import (
    StorageFailed,
    VaultStateError,
    VaultUnreadable,
    VaultWiped,
    WrongPin,
)
from device_firmware.core.keys import Key
from device_firmware.core.records import TokenData, VaultProtection, VaultStatus
from device_firmware.core.screens import Screen

DEFAULT_START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a round Unix time for tests


class FakeDisplay:
    """Keeps every frame it is shown."""

    def __init__(self) -> None:
        self.frames: list[Screen] = []

    def show(self, screen: Screen) -> None:
        """Record `screen`."""
        self.frames.append(screen)

    @property
    def current(self) -> Screen:
        """The last frame shown."""
        if not self.frames:
            raise LookupError("nothing has been shown yet")
        return self.frames[-1]


class FakeClock:
    """A clock that moves only when told to; also a `ClockCheck` (`known` says if it is set)."""

    def __init__(self, start: float = DEFAULT_START, *, known: bool = True) -> None:
        self.time = start
        self.known = known

    def now(self) -> float:
        """The fake's current Unix time."""
        return self.time

    def is_set(self) -> bool:
        """Whether the fake clock counts as set (`known`)."""
        return self.known

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        self.time += seconds

    def set(self, unix_time: float) -> None:
        """Jump to `unix_time`."""
        self.time = unix_time


class FakeKeypad:
    """Hands out scripted keys, then None (as if nobody pressed anything)."""

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self.pending: deque[Key] = deque(keys)

    def press(self, *keys: Key) -> None:
        """Queue more key presses."""
        self.pending.extend(keys)

    def read_key(self, timeout: float) -> Key | None:
        """The next scripted key, or None when the script is done."""
        return self.pending.popleft() if self.pending else None


class FakeVault:
    """An in-memory vault with the real one's rules.

    The PIN attempt is counted before the PIN is compared; `on_counted` runs right after the
    count (a test can raise there to play a power cut). When the allowed attempts are used up
    the vault is wiped and a new public key made.

    Args:
        attempts_allowed: wrong PINs allowed before the wipe.
        language: the stored language.
        protection: what the fake says guards it (the "About" screen shows it).

    Attributes:
        attempts_allowed: wrong PINs allowed before the wipe.
        attempts_used: attempts counted since the last right PIN ("on disk").
        language: the stored language.
        unreadable: when True, reads raise VaultUnreadable (damaged storage).
        fail_writes: when True, writes raise StorageFailed (full disk).
        wipes: how many times the vault was wiped.
        on_counted: called after an attempt is counted and before the PIN is checked.
    """

    def __init__(
        self,
        *,
        attempts_allowed: int = 1,
        language: Language = Language.ES,
        protection: VaultProtection = VaultProtection.FILE,
    ) -> None:
        if attempts_allowed < 1:
            raise ValueError("at least one PIN attempt must be allowed")
        self.attempts_allowed = attempts_allowed
        self._protection = protection
        self.attempts_used = 0
        self.language = language
        self.unreadable = False
        self.fail_writes = False
        self.wipes = 0
        self.on_counted: Callable[[], None] | None = None
        self._pin: str | None = None
        self._data: TokenData | None = None
        self._unlocked = False
        self._public_key = _new_public_key()

    @property
    def protection(self) -> VaultProtection:
        """The protection this fake claims (given to the constructor; FILE by default)."""
        return self._protection

    @property
    def stored(self) -> TokenData | None:
        """What the vault holds (None when it does not exist); tests only."""
        return self._data

    @property
    def unlocked(self) -> bool:
        """The vault was opened and not locked since."""
        return self._unlocked

    def status(self) -> VaultStatus:
        """Exists, attempts allowed/used, language."""
        self._check_readable()
        exists = self._pin is not None
        return VaultStatus(
            exists=exists,
            attempts_allowed=self.attempts_allowed,
            attempts_used=self.attempts_used if exists else 0,
            language=self.language,
        )

    def public_key(self) -> bytes:
        """The identity's public key (random bytes standing for a DER key)."""
        self._check_readable()
        return self._public_key

    def create(self, pin: str, data: TokenData) -> None:
        """Make the vault, unlocked."""
        if self._pin is not None:
            raise VaultStateError("a vault already exists; wipe it first")
        self._check_writable()
        self.attempts_used = 0
        self._pin, self._data, self._unlocked = pin, data, True

    def unlock(self, pin: str) -> TokenData:
        """Count the attempt, then compare the PIN."""
        if self._pin is None or self._data is None:
            raise VaultStateError("there is no vault to unlock")
        self._check_readable()
        if self.attempts_used >= self.attempts_allowed:
            self.wipe()
            raise VaultWiped("no PIN attempt was left")
        self._check_writable()
        self.attempts_used += 1
        if self.on_counted is not None:
            self.on_counted()
        if not secrets.compare_digest(pin.encode(), self._pin.encode()):
            remaining = self.attempts_allowed - self.attempts_used
            if remaining <= 0:
                self.wipe()
                raise VaultWiped("the last PIN attempt failed")
            raise WrongPin(remaining)
        self.attempts_used = 0
        self._unlocked = True
        return self._data

    def save(self, data: TokenData) -> None:
        """Replace the contents (the vault must be unlocked)."""
        if not self._unlocked:
            raise VaultStateError("the vault is locked")
        self._check_writable()
        self._data = data

    def lock(self) -> None:
        """Forget that the vault was unlocked."""
        self._unlocked = False

    def wipe(self) -> None:
        """Destroy everything but the language; new identity."""
        self._pin, self._data, self._unlocked = None, None, False
        self.attempts_used = 0
        self.unreadable = False
        self._public_key = _new_public_key()
        self.wipes += 1

    def set_language(self, language: Language) -> None:
        """Store the language."""
        self._check_writable()
        self.language = language

    def _check_readable(self) -> None:
        if self.unreadable:
            raise VaultUnreadable("the fake vault was told to be damaged")

    def _check_writable(self) -> None:
        if self.fail_writes:
            raise StorageFailed("the fake vault was told its disk is full")


def _new_public_key() -> bytes:
    return b"fake-spki:" + secrets.token_bytes(32)

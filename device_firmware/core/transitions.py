"""Events in, effects out: the vocabulary of `machine.step(state, event) -> Transition`.

Events are what happened (a key, a tick, a port's answer); effects are what the `Token`
runner must do through a port next. The answer to each effect comes back as an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_firmware.core.catalog import Language
from device_firmware.core.device_id import DeviceId
from device_firmware.core.errors import LinkError, VaultError
from device_firmware.core.keys import Key
from device_firmware.core.records import (
    ProvisionedCredential,
    RegistrationHandle,
    TokenData,
    VaultStatus,
)
from device_firmware.core.state import Place, State

# Events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The token was switched on."""


@dataclass(frozen=True)
class KeyPressed:
    """A key was pressed at Unix time `at`."""

    key: Key
    at: float


@dataclass(frozen=True)
class Tick:
    """Time passed; it is now `at` (codes, countdowns and multi-tap timeouts move on)."""

    at: float


@dataclass(frozen=True)
class VaultOpened:
    """The vault's status and identity were read (at start-up or after a wipe)."""

    status: VaultStatus
    public_key: bytes = field(repr=False)


@dataclass(frozen=True)
class Unlocked:
    """The PIN was right; here are the contents."""

    data: TokenData = field(repr=False)


@dataclass(frozen=True)
class PinRejected:
    """The PIN was wrong; `attempts_remaining` tries are left."""

    attempts_remaining: int


@dataclass(frozen=True)
class VaultSaved:
    """The vault wrote what it was given."""


@dataclass(frozen=True)
class VaultFailed:
    """The vault raised `error`."""

    error: VaultError


@dataclass(frozen=True)
class RegistrationStarted:
    """The bank accepted the login and e-mailed a code."""

    handle: RegistrationHandle


@dataclass(frozen=True)
class Provisioned:
    """The bank provisioned a credential; `local_time` is the token's clock at the answer."""

    provisioned: ProvisionedCredential
    local_time: float


@dataclass(frozen=True)
class CredentialDeleted:
    """The bank retired the credential."""

    credential_id: str


@dataclass(frozen=True)
class ServerTimeLearned:
    """The bank's time `server_time` was read when the token's clock said `local_time`."""

    server_time: float
    local_time: float


@dataclass(frozen=True)
class LinkFailed:
    """The bank link raised `error`."""

    error: LinkError


Event = (
    Started
    | KeyPressed
    | Tick
    | VaultOpened
    | Unlocked
    | PinRejected
    | VaultSaved
    | VaultFailed
    | RegistrationStarted
    | Provisioned
    | CredentialDeleted
    | ServerTimeLearned
    | LinkFailed
)


# Effects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenVault:
    """Read the vault's status and public key (answer: VaultOpened)."""


@dataclass(frozen=True)
class UnlockVault:
    """Count the attempt, then check `pin` (answer: Unlocked, PinRejected or VaultFailed)."""

    pin: str = field(repr=False)


@dataclass(frozen=True)
class CreateVault:
    """Create the vault sealed under `pin` with `data` (answer: VaultSaved)."""

    pin: str = field(repr=False)
    data: TokenData = field(repr=False)


@dataclass(frozen=True)
class SaveVault:
    """Replace the vault's contents (answer: VaultSaved)."""

    data: TokenData = field(repr=False)


@dataclass(frozen=True)
class LockVault:
    """Forget the unlocked key (no answer)."""


@dataclass(frozen=True)
class WipeVault:
    """Destroy the vault and make a new identity (answer: VaultOpened)."""


@dataclass(frozen=True)
class SaveLanguage:
    """Remember the language (no answer unless it fails)."""

    language: Language


@dataclass(frozen=True)
class StartRegistration:
    """Ask the bank to e-mail a code (answer: RegistrationStarted)."""

    username: str
    password: str = field(repr=False)
    public_key: bytes = field(repr=False)
    device_id: DeviceId


@dataclass(frozen=True)
class ConfirmRegistration:
    """Send the e-mailed code (answer: Provisioned)."""

    handle: RegistrationHandle
    email_code: str = field(repr=False)


@dataclass(frozen=True)
class RedeemActivation:
    """Send the device ID and activation code (answer: Provisioned)."""

    device_id: DeviceId
    activation_code: str = field(repr=False)
    public_key: bytes = field(repr=False)


@dataclass(frozen=True)
class DeleteCredential:
    """Retire a credential at the bank (answer: CredentialDeleted)."""

    credential_id: str


@dataclass(frozen=True)
class FetchServerTime:
    """Read the bank's time (answer: ServerTimeLearned)."""


Effect = (
    OpenVault
    | UnlockVault
    | CreateVault
    | SaveVault
    | LockVault
    | WipeVault
    | SaveLanguage
    | StartRegistration
    | ConfirmRegistration
    | RedeemActivation
    | DeleteCredential
    | FetchServerTime
)


@dataclass(frozen=True)
class Transition:
    """The outcome of one step: the new state and the effects to perform, in order."""

    state: State
    effects: tuple[Effect, ...] = ()


def go(state: State, place: Place, *effects: Effect) -> Transition:
    """Move `state` to `place`, asking for `effects`."""
    return Transition(state.at(place), effects)


def stay(state: State) -> Transition:
    """No change, no effect (a key that means nothing here)."""
    return Transition(state)

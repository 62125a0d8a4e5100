"""The core's state: where the customer is (a *place*) and what outlives places (*session*).

A place is a step of a flow: typing the username, looking at a code, waiting for the bank.
The session holds the language, the device ID and, while unlocked, the vault's contents.
All are frozen values; `machine.step` makes new ones (see `transitions` for events and
effects).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from device_firmware import __version__
from device_firmware.core.catalog import Language, Msg
from device_firmware.core.device_id import DeviceId
from device_firmware.core.records import (
    RegistrationHandle,
    TokenData,
    VaultProtection,
)
from device_firmware.core.screens import Tone
from device_firmware.core.text_entry import DEFAULT_TIMEOUT, TextEntry

PIN_LENGTH = 4
MIN_CODE_DIGITS = 4
MAX_CODE_DIGITS = 12


@dataclass(frozen=True)
class TokenConfig:
    """Fixed facts about this token build.

    Attributes:
        version: firmware version shown in "About".
        pin_length: digits of the access PIN.
        multitap_timeout: seconds after which a multi-tap character is fixed.
        vault_protection: what guards the vault (`Vault.protection`), shown in "About".
        trust_on_first_use: the link takes the bank's provisioning key at first contact
            instead of from the configuration (a development setting): "About" says so and
            the welcome and user-list titles carry a marker.
    """

    version: str = __version__
    pin_length: int = PIN_LENGTH
    multitap_timeout: float = DEFAULT_TIMEOUT
    vault_protection: VaultProtection = VaultProtection.FILE
    trust_on_first_use: bool = False


@dataclass(frozen=True)
class Session:
    """What outlives a single screen.

    Attributes:
        language: the screens' language.
        device_id: this token's device ID (None until the vault has been opened).
        public_key: the identity's DER public key, sent to the bank when provisioning.
        attempts_allowed: wrong PINs allowed before the wipe.
        attempts_remaining: PIN attempts left now.
        data: the unlocked vault's contents; None while locked or before enrolment.
    """

    language: Language = Language.ES
    device_id: DeviceId | None = None
    public_key: bytes = field(default=b"", repr=False)
    attempts_allowed: int = 1
    attempts_remaining: int = 1
    data: TokenData | None = None


# Places ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """Start-up: the vault's status is being read."""


@dataclass(frozen=True)
class Welcome:
    """First start (or "add another user"): the device ID and register / activate."""

    cursor: int = 0


@dataclass(frozen=True)
class EnterUsername:
    """Registration: typing the online-banking username."""

    entry: TextEntry


@dataclass(frozen=True)
class EnterPassword:
    """Registration: typing the online-banking password."""

    username: str
    entry: TextEntry = field(repr=False)


@dataclass(frozen=True)
class EnterEmailCode:
    """Registration: typing the code the bank e-mailed."""

    handle: RegistrationHandle
    digits: str = field(default="", repr=False)


@dataclass(frozen=True)
class ShowDeviceId:
    """Activation: the device ID to type into the bank's portal."""


@dataclass(frozen=True)
class EnterActivationCode:
    """Activation: typing the code the portal showed."""

    digits: str = field(default="", repr=False)


@dataclass(frozen=True)
class Synchronised:
    """Activation succeeded; any key goes on to `then`."""

    then: Place


@dataclass(frozen=True)
class DefinePin:
    """First enrolment: choosing the PIN that will seal `pending`."""

    pending: TokenData = field(repr=False)
    digits: str = field(default="", repr=False)


@dataclass(frozen=True)
class ConfirmPin:
    """First enrolment: typing the chosen PIN again."""

    pending: TokenData = field(repr=False)
    first: str = field(repr=False)
    digits: str = field(default="", repr=False)


@dataclass(frozen=True)
class EnterPin:
    """Opening the token: typing the PIN. `refused` after a wrong one."""

    digits: str = field(default="", repr=False)
    refused: bool = False


@dataclass(frozen=True)
class UserList:
    """All registered users, then "add another user", "delete user", "settings"."""

    cursor: int = 0


@dataclass(frozen=True)
class ShowCode:
    """One user's current code and countdown."""

    credential_id: str


@dataclass(frozen=True)
class UserMenu:
    """A user whose credential signs transfers: their code, or signing a transfer."""

    credential_id: str
    cursor: int = 0


# Signing a transfer (docs/protocol.md §6). What is typed is kept out of repr, as a PIN is:
# an amount and a payee are the customer's business, not a log's.


@dataclass(frozen=True)
class EnterAmount:
    """Signing: typing the amount (`amount_entry`); `refused` says why the last key was not
    taken."""

    credential_id: str
    typed: str = field(default="", repr=False)
    refused: Msg | None = None


@dataclass(frozen=True)
class EnterPayee:
    """Signing: typing the payee reference (8 digits) for an amount of `cents`."""

    credential_id: str
    cents: int = field(repr=False)
    digits: str = field(default="", repr=False)
    refused: Msg | None = None


@dataclass(frozen=True)
class ConfirmTransfer:
    """Signing: the question "Transfer <amount> to ...<payee>?" before the response."""

    credential_id: str
    cents: int = field(repr=False)
    payee: str = field(repr=False)


@dataclass(frozen=True)
class ShowResponse:
    """Signing: the response to the transfer, at the bank's current minute."""

    credential_id: str
    cents: int = field(repr=False)
    payee: str = field(repr=False)


@dataclass(frozen=True)
class DeleteList:
    """The "delete user" list: the users, each with an X."""

    cursor: int = 0


@dataclass(frozen=True)
class ConfirmDelete:
    """The question "Delete <name>? Yes / No" (the cursor starts on No)."""

    credential_id: str
    cursor: int = 1


@dataclass(frozen=True)
class Settings:
    """Language, clock resynchronisation, about."""

    cursor: int = 0


@dataclass(frozen=True)
class ChooseLanguage:
    """The language list; goes back to `back` once chosen."""

    back: Place
    cursor: int = 0


@dataclass(frozen=True)
class About:
    """Device ID and firmware version."""


@dataclass(frozen=True)
class Notice:
    """A message (error, confirmation) until a key is pressed; then `then`."""

    title: Msg
    body: Msg
    then: Place
    tone: Tone = Tone.INFO
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def error(cls, body: Msg, then: Place) -> Notice:
        """An error ("Error" title, error tone) saying `body`; any key goes on to `then`."""
        return cls(Msg.TITLE_ERROR, body, then=then, tone=Tone.ERROR)


@dataclass(frozen=True)
class Damaged:
    """The vault cannot be read; # erases it."""


# Busy places: the screen says "please wait" while the runner performs the effect.


@dataclass(frozen=True)
class Registering:
    """Waiting for the bank to check the username and password."""

    username: str


@dataclass(frozen=True)
class ConfirmingEmailCode:
    """Waiting for the bank to check the e-mailed code and provision."""

    handle: RegistrationHandle


@dataclass(frozen=True)
class Activating:
    """Waiting for the bank to check the device ID and activation code and provision."""


@dataclass(frozen=True)
class CheckingPin:
    """Waiting for the vault to count the attempt and check the PIN."""


@dataclass(frozen=True)
class Saving:
    """Waiting for the vault to write `pending`; then `then`, or `retry` on failure."""

    pending: TokenData = field(repr=False)
    then: Place
    retry: Place


@dataclass(frozen=True)
class Deleting:
    """Waiting for the bank to retire a credential."""

    credential_id: str


@dataclass(frozen=True)
class SyncingClock:
    """Waiting for the bank's time."""


@dataclass(frozen=True)
class Erasing:
    """Waiting for the vault to be destroyed; then `then`."""

    then: Place


Place = (
    Opening
    | Welcome
    | EnterUsername
    | EnterPassword
    | EnterEmailCode
    | ShowDeviceId
    | EnterActivationCode
    | Synchronised
    | DefinePin
    | ConfirmPin
    | EnterPin
    | UserList
    | ShowCode
    | UserMenu
    | EnterAmount
    | EnterPayee
    | ConfirmTransfer
    | ShowResponse
    | DeleteList
    | ConfirmDelete
    | Settings
    | ChooseLanguage
    | About
    | Notice
    | Damaged
    | Registering
    | ConfirmingEmailCode
    | Activating
    | CheckingPin
    | Saving
    | Deleting
    | SyncingClock
    | Erasing
)


@dataclass(frozen=True)
class State:
    """The whole state of the token's core."""

    place: Place = field(default_factory=Opening)
    session: Session = field(default_factory=Session)
    config: TokenConfig = field(default_factory=TokenConfig)

    def at(self, place: Place) -> State:
        """The same state at another place."""
        return replace(self, place=place)

    def with_session(self, session: Session) -> State:
        """The same state with another session."""
        return replace(self, session=session)

"""Getting a credential onto the token: self-registration, portal activation, first PIN.

Self-registration (PaySecure): username → password → e-mailed code → (first user) define
PIN → confirm PIN → the code. Portal activation (INVEX Clave): the device ID to type in the
portal → the activation code → "synchronised" → (first user) define and confirm the PIN.
For an added user the credential is saved straight into the unlocked vault.
"""

from __future__ import annotations

from dataclasses import replace

from device_firmware.core.catalog import Msg
from device_firmware.core.errors import (
    BundleRejected,
    CodeExpired,
    EnrolmentRefused,
    LinkError,
    TooManyAttempts,
    Unreachable,
    WrongCode,
    WrongCredentials,
)
from device_firmware.core.keys import BACK, OK, Key
from device_firmware.core.menu import LANGUAGES, WELCOME_ADD_USER, WELCOME_FIRST_START, menu_key
from device_firmware.core.records import TokenData
from device_firmware.core.state import (
    MAX_CODE_DIGITS,
    MIN_CODE_DIGITS,
    Activating,
    ChooseLanguage,
    ConfirmingEmailCode,
    ConfirmPin,
    DefinePin,
    EnterActivationCode,
    EnterEmailCode,
    EnterPassword,
    EnterUsername,
    Notice,
    Place,
    Registering,
    Saving,
    ShowCode,
    ShowDeviceId,
    State,
    Synchronised,
    UserList,
    Welcome,
)
from device_firmware.core.text_entry import TextEntry, edit_digits
from device_firmware.core.transitions import (
    ConfirmRegistration,
    CreateVault,
    Provisioned,
    RedeemActivation,
    SaveVault,
    StartRegistration,
    Transition,
    go,
    stay,
)


def on_key(state: State, key: Key, at: float) -> Transition | None:
    """The transition for `key` at an enrolment place, or None if the place is not one."""
    place = state.place
    match place:
        case Welcome():
            return _welcome(state, place, key)
        case EnterUsername() | EnterPassword():
            return _text(state, place, key, at)
        case EnterEmailCode(handle=handle, digits=digits):
            if key is OK and len(digits) >= MIN_CODE_DIGITS:
                return go(state, ConfirmingEmailCode(handle), ConfirmRegistration(handle, digits))
            if key is BACK:
                return go(state, Welcome())
            return go(state, replace(place, digits=edit_digits(digits, key, MAX_CODE_DIGITS)))
        case ShowDeviceId():
            if key is OK:
                return go(state, EnterActivationCode())
            return go(state, Welcome()) if key is BACK else stay(state)
        case EnterActivationCode(digits=digits):
            return _activation_code(state, place, key)
        case Synchronised(then=then):
            return go(state, then)
        case DefinePin(pending=pending, digits=digits):
            length = state.config.pin_length
            if key is OK and len(digits) == length:
                return go(state, ConfirmPin(pending, first=digits))
            return go(state, replace(place, digits=edit_digits(digits, key, length)))
        case ConfirmPin():
            return _confirm_pin(state, place, key)
    return None


def _welcome(state: State, place: Welcome, key: Key) -> Transition:
    data = state.session.data
    items = WELCOME_FIRST_START if data is None else WELCOME_ADD_USER
    if key is BACK:
        if data is None:
            return stay(state)
        return go(state, UserList(cursor=len(data.credentials)))
    move = menu_key(place.cursor, len(items), key)
    match None if move.chosen is None else items[move.chosen]:
        case Msg.MENU_REGISTER:
            return go(state, EnterUsername(TextEntry(timeout=state.config.multitap_timeout)))
        case Msg.MENU_ACTIVATE:
            return go(state, ShowDeviceId())
        case Msg.MENU_LANGUAGE_BOTH:
            back = Welcome(cursor=move.cursor)
            return go(state, ChooseLanguage(back, cursor=_language_cursor(state)))
    return go(state, Welcome(cursor=move.cursor))


def _language_cursor(state: State) -> int:
    return LANGUAGES.index(state.session.language)


def _text(state: State, place: EnterUsername | EnterPassword, key: Key, at: float) -> Transition:
    entry = place.entry.settle(at)
    timeout = state.config.multitap_timeout
    if isinstance(place, EnterUsername):
        if key is BACK:
            return go(state, Welcome())
        if key is OK:
            username = entry.text.strip()
            if not username:
                return go(state, EnterUsername(entry))
            return go(state, EnterPassword(username, TextEntry(timeout=timeout)))
        return go(state, EnterUsername(entry.press(key, at)))
    if key is BACK:
        return go(state, EnterUsername(TextEntry.of(place.username, timeout=timeout)))
    session = state.session
    if key is OK:
        if not entry.text or session.device_id is None:
            return go(state, replace(place, entry=entry))
        request = StartRegistration(
            place.username, entry.text, session.public_key, session.device_id
        )
        return go(state, Registering(place.username), request)
    return go(state, replace(place, entry=entry.press(key, at)))


def _activation_code(state: State, place: EnterActivationCode, key: Key) -> Transition:
    session = state.session
    if key is BACK:
        return go(state, ShowDeviceId())
    if key is OK:
        if len(place.digits) < MIN_CODE_DIGITS or session.device_id is None:
            return stay(state)
        request = RedeemActivation(session.device_id, place.digits, session.public_key)
        return go(state, Activating(), request)
    return go(state, replace(place, digits=edit_digits(place.digits, key, MAX_CODE_DIGITS)))


def _confirm_pin(state: State, place: ConfirmPin, key: Key) -> Transition:
    length = state.config.pin_length
    if key is BACK:
        return go(state, DefinePin(place.pending))
    if key is not OK or len(place.digits) != length:
        return go(state, replace(place, digits=edit_digits(place.digits, key, length)))
    if place.digits != place.first:
        return go(state, Notice.error(Msg.PIN_MISMATCH, then=DefinePin(place.pending)))
    first = place.pending.credentials[0].credential_id
    saving = Saving(place.pending, then=ShowCode(first), retry=DefinePin(place.pending))
    return go(state, saving, CreateVault(place.first, place.pending))


def provisioned(state: State, event: Provisioned) -> Transition:
    """A credential arrived: first user → define the PIN; added user → save it now."""
    if not isinstance(state.place, Activating | ConfirmingEmailCode):
        return stay(state)
    credential = event.provisioned.credential
    offset = event.provisioned.server_time - event.local_time
    activation = isinstance(state.place, Activating)
    data = state.session.data
    if data is None:
        define = DefinePin(TokenData((credential,), clock_offset=offset))
        return go(state, Synchronised(define) if activation else define)
    updated = data.with_credential(credential).with_clock_offset(offset)
    then: Place = ShowCode(credential.credential_id)
    if activation:
        then = Synchronised(then)
    return go(state, Saving(updated, then=then, retry=UserList()), SaveVault(updated))


def link_failed(state: State, error: LinkError) -> Transition | None:
    """The bank refused or failed during enrolment: say why, go back where it helps."""
    timeout = state.config.multitap_timeout
    match state.place:
        case Registering(username=username):
            if isinstance(error, WrongCredentials):
                return _error(state, error, EnterUsername(TextEntry.of(username, timeout=timeout)))
            return _error(state, error, EnterPassword(username, TextEntry(timeout=timeout)))
        case ConfirmingEmailCode(handle=handle):
            if isinstance(error, CodeExpired):
                return _error(state, error, EnterUsername(TextEntry(timeout=timeout)))
            return _error(state, error, EnterEmailCode(handle))
        case Activating():
            if isinstance(error, WrongCode | WrongCredentials):
                return go(state, Notice.error(Msg.ERR_ACTIVATION, ShowDeviceId()))
            return _error(state, error, EnterActivationCode())
    return None


def _error(state: State, error: LinkError, then: Place) -> Transition:
    return go(state, Notice.error(plain_words(error), then))


_PLAIN_WORDS: tuple[tuple[type[LinkError], Msg], ...] = (
    (Unreachable, Msg.ERR_UNREACHABLE),
    (WrongCredentials, Msg.ERR_WRONG_CREDENTIALS),
    (WrongCode, Msg.ERR_WRONG_EMAIL_CODE),
    (CodeExpired, Msg.ERR_CODE_EXPIRED),
    (TooManyAttempts, Msg.ERR_TOO_MANY_ATTEMPTS),
    (BundleRejected, Msg.ERR_BUNDLE),
    (EnrolmentRefused, Msg.ERR_ENROLMENT_REFUSED),
)


def plain_words(error: LinkError) -> Msg:
    """The sentence that explains `error` to the customer (ERR_BANK for any other kind)."""
    return next((msg for kind, msg in _PLAIN_WORDS if isinstance(error, kind)), Msg.ERR_BANK)

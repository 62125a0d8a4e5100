"""From state to screen: `render(state, now)` is pure and gives the `Screen` to show.

Codes and countdowns depend only on `now` (plus the learned clock offset), so a tick that
crosses a step boundary renders the new code without any change of state.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from device_firmware.core import amount_entry, device_id, transfers
from device_firmware.core.catalog import Language, Msg, say
from device_firmware.core.codes import code_at, grouped, seconds_left
from device_firmware.core.menu import (
    CONFIRM_ITEMS,
    LANGUAGES,
    SETTINGS_ITEMS,
    USER_ACTIONS,
    USER_MENU,
    WELCOME_ADD_USER,
    WELCOME_FIRST_START,
)
from device_firmware.core.records import Credential, TokenData, VaultProtection
from device_firmware.core.screens import (
    CodeScreen,
    DigitEntryScreen,
    MenuScreen,
    MessageScreen,
    Screen,
    TextEntryScreen,
    Tone,
)
from device_firmware.core.state import (
    About,
    Activating,
    CheckingPin,
    ChooseLanguage,
    ConfirmDelete,
    ConfirmingEmailCode,
    ConfirmPin,
    ConfirmTransfer,
    Damaged,
    DefinePin,
    DeleteList,
    Deleting,
    EnterActivationCode,
    EnterAmount,
    EnterEmailCode,
    EnterPassword,
    EnterPayee,
    EnterPin,
    EnterUsername,
    Erasing,
    Notice,
    Opening,
    Registering,
    Saving,
    Settings,
    ShowCode,
    ShowDeviceId,
    ShowResponse,
    State,
    Synchronised,
    SyncingClock,
    UserList,
    UserMenu,
    Welcome,
)
from device_firmware.core.text_entry import TextEntry

MASK = "•"
Say = Callable[..., str]
VAULT_LINES = {
    VaultProtection.FILE: Msg.ABOUT_VAULT_FILE,
    VaultProtection.TPM: Msg.ABOUT_VAULT_TPM,
}


def render(state: State, now: float, *, clock_set: bool = True) -> Screen:
    """The screen for `state` when the token's clock reads `now`.

    Args:
        state: the core's state.
        now: the token's clock (the learned offset is added for codes).
        clock_set: False while the clock is not known to be right: a code screen then
            says "clock not set" instead of showing a code.
    """
    t: Say = partial(say, state.session.language)
    place = state.place
    data = state.session.data
    match place:
        case Welcome(cursor=cursor):
            return _welcome(state, t, cursor)
        case EnterUsername(entry=entry):
            return _text(t(Msg.TITLE_USERNAME), entry, t, secret=False)
        case EnterPassword(entry=entry):
            return _text(t(Msg.TITLE_SECRET_WORD), entry, t, secret=True)
        case EnterEmailCode(handle=handle, digits=digits):
            note = t(Msg.EMAIL_SENT_TO, email=handle.masked_email)
            return DigitEntryScreen(
                t(Msg.TITLE_EMAIL_CODE), digits, None, note, t(Msg.HINT_DIGITS_BACK)
            )
        case ShowDeviceId():
            lines = (t(Msg.ACTIVATE_TYPE_ID), _device_id(state))
            return MessageScreen(t(Msg.TITLE_ACTIVATE), lines, hint=t(Msg.HINT_ACTIVATE_NEXT))
        case EnterActivationCode(digits=digits):
            title = t(Msg.TITLE_ACTIVATION_CODE)
            return DigitEntryScreen(title, digits, hint=t(Msg.HINT_DIGITS_BACK))
        case Synchronised():
            done = (t(Msg.SYNCHRONISED_BODY),)
            return MessageScreen(t(Msg.TITLE_SYNCHRONISED), done, Tone.SUCCESS, t(Msg.HINT_ANY_KEY))
        case DefinePin(digits=digits) | ConfirmPin(digits=digits):
            which = Msg.TITLE_DEFINE_PIN if isinstance(place, DefinePin) else Msg.TITLE_CONFIRM_PIN
            title = t(which, length=state.config.pin_length)
            return _pin(state, t, title, digits, t(Msg.PIN_REMEMBER))
        case EnterPin(digits=digits):
            return _pin(state, t, t(Msg.TITLE_ENTER_PIN), digits, _pin_note(state, t, place))
        case Notice(title=title, body=body, tone=tone, params=params):
            text = t(body, **dict(params))
            return MessageScreen(t(title), (text,), tone, t(Msg.HINT_ANY_KEY))
        case Damaged():
            why = (t(Msg.DAMAGED_BODY),)
            return MessageScreen(t(Msg.TITLE_DAMAGED), why, Tone.ERROR, t(Msg.HINT_ERASE))
        case ChooseLanguage(cursor=cursor):
            items = tuple(language.native_name for language in LANGUAGES)
            return MenuScreen(t(Msg.TITLE_LANGUAGE), items, cursor, hint=t(Msg.HINT_MENU_BACK))
        case Opening():
            return _busy(t, Msg.BUSY_OPENING)
        case Registering() | ConfirmingEmailCode() | Activating() | Deleting() | SyncingClock():
            return _busy(t, Msg.BUSY_BANK)
        case CheckingPin():
            return _busy(t, Msg.BUSY_PIN)
        case Saving():
            return _busy(t, Msg.BUSY_SAVING)
        case Erasing():
            return _busy(t, Msg.BUSY_ERASING)
    return _unlocked(state, t, data or TokenData(), now, clock_set)


def _unlocked(state: State, t: Say, data: TokenData, now: float, clock_set: bool) -> Screen:
    """Screens that show the unlocked vault's contents."""
    place = state.place
    match place:
        case UserList(cursor=cursor):
            users = tuple(c.label for c in data.credentials)
            items = users + tuple(t(m) for m in USER_ACTIONS)
            note = "" if users else t(Msg.NO_USERS)
            title = _marked(state, t, Msg.TITLE_USERS)
            return MenuScreen(title, items, cursor, note, t(Msg.HINT_USERS))
        case ShowCode(credential_id=credential_id):
            credential = data.find(credential_id)
            if credential is not None:
                title, period = t(Msg.TITLE_CODE), credential.period
                code_of = partial(code_at, credential)
                bank_time = now + data.clock_offset
                return _timed(t, clock_set, title, credential.label, period, code_of, bank_time)
        case UserMenu(credential_id=credential_id, cursor=cursor):
            credential = data.find(credential_id)
            if credential is not None:
                items = tuple(t(m) for m in USER_MENU)
                return MenuScreen(credential.label, items, cursor, hint=t(Msg.HINT_MENU_BACK))
        case EnterAmount() | EnterPayee() | ConfirmTransfer() | ShowResponse():
            credential = data.find(place.credential_id)
            if credential is not None and credential.signs_transfers:
                return _signing(state, t, credential, data.clock_offset, now, clock_set)
        case DeleteList(cursor=cursor):
            items = tuple(t(Msg.DELETE_ITEM, name=c.label) for c in data.credentials)
            return MenuScreen(t(Msg.TITLE_DELETE_USER), items, cursor, hint=t(Msg.HINT_MENU_BACK))
        case ConfirmDelete(credential_id=credential_id, cursor=cursor):
            credential = data.find(credential_id)
            name = credential.label if credential else credential_id
            items = tuple(t(m) for m in CONFIRM_ITEMS)
            title = t(Msg.TITLE_CONFIRM_DELETE, name=name)
            return MenuScreen(title, items, cursor, hint=t(Msg.HINT_MENU_BACK))
        case Settings(cursor=cursor):
            items = tuple(t(m) for m in SETTINGS_ITEMS)
            return MenuScreen(t(Msg.TITLE_SETTINGS), items, cursor, hint=t(Msg.HINT_MENU_BACK))
        case About():
            config = state.config
            body: tuple[str, ...] = (
                t(Msg.DEVICE_ID_LINE, device_id=_device_id(state)),
                t(Msg.ABOUT_VERSION, version=config.version),
                t(VAULT_LINES[config.vault_protection]),
            )
            if config.trust_on_first_use:
                body += (t(Msg.ABOUT_TRUST_ON_FIRST_USE),)
            return MessageScreen(t(Msg.TITLE_ABOUT), body, hint=t(Msg.HINT_ANY_KEY))
    # A place whose subject vanished (e.g. a code for a deleted user): say so plainly.
    return MessageScreen(t(Msg.TITLE_USERS), (t(Msg.NO_USERS),), hint=t(Msg.HINT_BACK))


def _signing(
    state: State, t: Say, credential: Credential, offset: float, now: float, clock_set: bool
) -> Screen:
    """The screens of signing a transfer for `credential` (one that has an OCRA seed)."""
    place = state.place
    language = state.session.language
    match place:
        case EnterAmount(typed=typed, refused=refused):
            shown = amount_entry.shown(typed, language)
            note = _refusal(t, refused, language) or t(Msg.AMOUNT_NOTE)
            return DigitEntryScreen(t(Msg.TITLE_AMOUNT), shown, None, note, t(Msg.HINT_AMOUNT))
        case EnterPayee(digits=digits, refused=refused):
            note = _refusal(t, refused, language) or t(Msg.PAYEE_NOTE)
            hint = t(Msg.HINT_DIGITS_CANCEL)
            return DigitEntryScreen(t(Msg.TITLE_PAYEE), digits, None, note, hint)
        case ConfirmTransfer(cents=cents, payee=payee):
            amount = amount_entry.formatted(cents, language)
            question = (t(Msg.TRANSFER_QUESTION, amount=amount, payee=payee),)
            return MessageScreen(t(Msg.TITLE_CONFIRM_TRANSFER), question, hint=t(Msg.HINT_CONFIRM))
        case ShowResponse(cents=cents, payee=payee) if credential.ocra_seed is not None:
            amount = amount_entry.formatted(cents, language)
            # the name line of a code is 20 characters wide: the payee's last 4 digits
            line = t(Msg.TRANSFER_LINE, amount=amount, payee_end=payee[-4:])
            code_of = partial(transfers.response_at, credential.ocra_seed, cents, payee)
            title, period = t(Msg.TITLE_RESPONSE), transfers.TIME_STEP
            return _timed(t, clock_set, title, line, period, code_of, now + offset)
    return MessageScreen(t(Msg.TITLE_USERS), (t(Msg.NO_USERS),), hint=t(Msg.HINT_BACK))


def _timed(
    t: Say,
    clock_set: bool,
    title: str,
    user: str,
    period: int,
    code_of: Callable[[float], str],
    bank_time: float,
) -> Screen:
    """A code or a response with its countdown (`code_of` the value at a bank time); a
    token whose clock was never set shows why it shows none."""
    if not clock_set:
        why = (t(Msg.CLOCK_UNSET_BODY),)
        return MessageScreen(t(Msg.TITLE_CLOCK_UNSET), why, Tone.ERROR, t(Msg.HINT_BACK))
    left = seconds_left(period, bank_time)
    return CodeScreen(
        title=title,
        user=user,
        code=grouped(code_of(bank_time)),
        seconds_left=left,
        period=period,
        countdown=t(Msg.CODE_CHANGES_IN, seconds=left),
        hint=t(Msg.HINT_BACK),
    )


def _refusal(t: Say, refused: Msg | None, language: Language) -> str:
    if refused is None:
        return ""
    maximum = amount_entry.formatted(transfers.MAX_CENTS, language)
    return t(refused, maximum=maximum)


def _welcome(state: State, t: Say, cursor: int) -> MenuScreen:
    adding = state.session.data is not None
    items = tuple(t(m) for m in (WELCOME_ADD_USER if adding else WELCOME_FIRST_START))
    return MenuScreen(
        title=_marked(state, t, Msg.TITLE_ADD_USER if adding else Msg.TITLE_WELCOME),
        items=items,
        cursor=cursor,
        note=t(Msg.DEVICE_ID_LINE, device_id=_device_id(state)),
        hint=t(Msg.HINT_MENU_BACK if adding else Msg.HINT_MENU),
    )


def _marked(state: State, t: Say, title: Msg) -> str:
    """`title`, marked "(development)" while the bank's key is trusted on first use: the
    screens a tester registers from and comes back to, so the setting is never forgotten."""
    if state.config.trust_on_first_use:
        return t(Msg.DEVELOPMENT_TITLE, title=t(title))
    return t(title)


def _device_id(state: State) -> str:
    found = state.session.device_id
    return device_id.format(found) if found is not None else ""


def _text(title: str, entry: TextEntry, t: Say, *, secret: bool) -> TextEntryScreen:
    shown = entry.text
    if secret:
        # Every character masked but the one still cycling, as phones show passwords.
        visible = entry.cursor - 1 if entry.pending else -1
        shown = "".join(c if i == visible else MASK for i, c in enumerate(entry.text))
    return TextEntryScreen(
        title, shown, entry.cursor, entry.mode.value, entry.pending, t(Msg.HINT_TEXT)
    )


def _pin(state: State, t: Say, title: str, digits: str, note: str) -> DigitEntryScreen:
    length = state.config.pin_length
    return DigitEntryScreen(title, MASK * len(digits), length, note, t(Msg.HINT_DIGITS))


def _pin_note(state: State, t: Say, place: EnterPin) -> str:
    session = state.session
    notes = []
    if place.refused:
        notes.append(t(Msg.PIN_WRONG, remaining=session.attempts_remaining))
    if session.attempts_allowed > 1 and session.attempts_remaining == 1:
        notes.append(t(Msg.PIN_LAST_ATTEMPT))  # warned before the last PIN is typed
    return " ".join(notes)


def _busy(t: Say, msg: Msg) -> MessageScreen:
    return MessageScreen(t(Msg.TITLE_WAIT), (t(msg),), Tone.BUSY)

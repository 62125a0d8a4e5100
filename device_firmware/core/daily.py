"""Daily use: the PIN at every opening, the user list, codes, deleting users, settings."""

from __future__ import annotations

from dataclasses import replace

from device_firmware.core.catalog import Msg
from device_firmware.core.enrolment import plain_words
from device_firmware.core.errors import LinkError, UnknownCredential
from device_firmware.core.keys import BACK, DELETE, OK, Key
from device_firmware.core.menu import (
    CONFIRM_ITEMS,
    LANGUAGES,
    SETTINGS_ITEMS,
    USER_ACTIONS,
    menu_key,
)
from device_firmware.core.records import Credential, TokenData
from device_firmware.core.screens import Tone
from device_firmware.core.state import (
    About,
    CheckingPin,
    ChooseLanguage,
    ConfirmDelete,
    Damaged,
    DeleteList,
    Deleting,
    EnterPin,
    Erasing,
    Notice,
    Place,
    Saving,
    Settings,
    ShowCode,
    State,
    SyncingClock,
    UserList,
    UserMenu,
    Welcome,
)
from device_firmware.core.text_entry import edit_digits
from device_firmware.core.transitions import (
    CredentialDeleted,
    DeleteCredential,
    FetchServerTime,
    LockVault,
    SaveLanguage,
    SaveVault,
    ServerTimeLearned,
    Transition,
    UnlockVault,
    WipeVault,
    go,
    stay,
)

SYNC_CLOCK_ITEM = SETTINGS_ITEMS.index(Msg.MENU_SYNC_CLOCK)
ABOUT_ITEM = SETTINGS_ITEMS.index(Msg.MENU_ABOUT)


def on_key(state: State, key: Key, at: float) -> Transition | None:
    """The transition for `key` at a daily-use place, or None if the place is not one."""
    place = state.place
    data = state.session.data
    match place:
        case EnterPin(digits=digits):
            length = state.config.pin_length
            if key is OK and len(digits) == length:
                return go(state, CheckingPin(), UnlockVault(digits))
            return go(state, replace(place, digits=edit_digits(digits, key, length)))
        case Notice(then=then):
            return go(state, then)
        case Damaged():
            return go(state, Erasing(then=Welcome()), WipeVault()) if key is OK else stay(state)
        case ChooseLanguage(back=back, cursor=cursor):
            if key is BACK:
                return go(state, back)
            move = menu_key(cursor, len(LANGUAGES), key)
            if move.chosen is None:
                return go(state, replace(place, cursor=move.cursor))
            language = LANGUAGES[move.chosen]
            state = state.with_session(replace(state.session, language=language))
            return go(state, back, SaveLanguage(language))
    if data is None:
        return None
    match place:
        case UserList(cursor=cursor):
            return _user_list(state, data, cursor, key)
        case ShowCode(credential_id=credential_id):
            if key in (BACK, OK, DELETE):
                credential = data.find(credential_id)
                if credential is not None and credential.signs_transfers:
                    return go(state, UserMenu(credential_id))
                return go(state, UserList(cursor=index_of(data, credential_id)))
            return stay(state)
        case DeleteList(cursor=cursor):
            return _delete_list(state, data, cursor, key)
        case ConfirmDelete(credential_id=credential_id, cursor=cursor):
            back = UserList(cursor=index_of(data, credential_id))
            if key is BACK:
                return go(state, back)
            move = menu_key(cursor, len(CONFIRM_ITEMS), key)
            match None if move.chosen is None else CONFIRM_ITEMS[move.chosen]:
                case Msg.YES:
                    return go(state, Deleting(credential_id), DeleteCredential(credential_id))
                case Msg.NO:
                    return go(state, back)
            return go(state, replace(place, cursor=move.cursor))
        case Settings(cursor=cursor):
            return _settings(state, cursor, key)
        case About():
            return go(state, Settings(cursor=ABOUT_ITEM))
    return None


def index_of(data: TokenData, credential_id: str) -> int:
    """Where the user with this credential stands in the user list (0 if gone)."""
    ids = [c.credential_id for c in data.credentials]
    return ids.index(credential_id) if credential_id in ids else 0


def _user_list(state: State, data: TokenData, cursor: int, key: Key) -> Transition:
    users = data.credentials
    if key is BACK:
        locked = state.with_session(replace(state.session, data=None))
        return go(locked, EnterPin(), LockVault())
    move = menu_key(cursor, len(users) + len(USER_ACTIONS), key)
    if move.chosen is None:
        return go(state, UserList(cursor=move.cursor))
    if move.chosen < len(users):
        return go(state, user_home(users[move.chosen]))
    match USER_ACTIONS[move.chosen - len(users)]:
        case Msg.MENU_ADD_USER:
            return go(state, Welcome())
        case Msg.MENU_DELETE_USER:
            return go(state, DeleteList()) if users else go(state, UserList(cursor=move.cursor))
        case _:
            return go(state, Settings())


def _delete_list(state: State, data: TokenData, cursor: int, key: Key) -> Transition:
    users = data.credentials
    if key is BACK:
        return go(state, UserList(cursor=len(users) + USER_ACTIONS.index(Msg.MENU_DELETE_USER)))
    move = menu_key(cursor, len(users), key)
    if move.chosen is None:
        return go(state, DeleteList(cursor=move.cursor))
    return go(state, ConfirmDelete(users[move.chosen].credential_id))


def _settings(state: State, cursor: int, key: Key) -> Transition:
    if key is BACK:
        return go(state, UserList())
    move = menu_key(cursor, len(SETTINGS_ITEMS), key)
    match None if move.chosen is None else SETTINGS_ITEMS[move.chosen]:
        case Msg.MENU_LANGUAGE:
            here = Settings(cursor=move.cursor)
            return go(state, ChooseLanguage(here, LANGUAGES.index(state.session.language)))
        case Msg.MENU_SYNC_CLOCK:
            return go(state, SyncingClock(), FetchServerTime())
        case Msg.MENU_ABOUT:
            return go(state, About())
    return go(state, Settings(cursor=move.cursor))


def unlocked(state: State, data: TokenData) -> Transition:
    """The PIN was right: one user → straight to their code (or menu); several → the list."""
    session = replace(state.session, data=data, attempts_remaining=state.session.attempts_allowed)
    state = state.with_session(session)
    if len(data.credentials) == 1:
        return go(state, user_home(data.credentials[0]))
    return go(state, UserList())


def user_home(credential: Credential) -> Place:
    """Where choosing a user leads: straight to the code, or, when the bank has enabled
    transaction signing for the credential, the user's menu (code, sign a transaction)."""
    if credential.signs_transfers:
        return UserMenu(credential.credential_id)
    return ShowCode(credential.credential_id)


def pin_rejected(state: State, attempts_remaining: int) -> Transition:
    """The PIN was wrong but tries are left: ask again, saying how many."""
    session = replace(state.session, attempts_remaining=attempts_remaining)
    return go(state.with_session(session), EnterPin(refused=True))


def credential_deleted(state: State, event: CredentialDeleted) -> Transition:
    """The bank retired the credential: remove it from the vault too."""
    data = state.session.data
    if data is None:
        return stay(state)
    updated = data.without(event.credential_id)
    return go(state, Saving(updated, then=UserList(), retry=UserList()), SaveVault(updated))


def server_time_learned(state: State, event: ServerTimeLearned) -> Transition:
    """The bank's time arrived: keep the new offset and say what it is."""
    data = state.session.data
    if data is None:
        return stay(state)
    offset = event.server_time - event.local_time
    updated = data.with_clock_offset(offset)
    here = Settings(cursor=SYNC_CLOCK_ITEM)
    done = Notice(
        Msg.TITLE_CLOCK,
        Msg.CLOCK_SYNCED,
        then=here,
        tone=Tone.SUCCESS,
        params=(("offset", f"{offset:+.0f}"),),
    )
    return go(state, Saving(updated, then=done, retry=here), SaveVault(updated))


def link_failed(state: State, error: LinkError) -> Transition | None:
    """The bank failed while deleting a user or reading its time."""
    match state.place:
        case Deleting(credential_id=credential_id):
            if isinstance(error, UnknownCredential):
                # Already gone at the bank (retired by a newer registration): drop it here too.
                return credential_deleted(state, CredentialDeleted(credential_id))
            back = UserList(cursor=index_of(state.session.data or TokenData(), credential_id))
            return go(state, Notice.error(plain_words(error), back))
        case SyncingClock():
            return go(state, Notice.error(plain_words(error), Settings(cursor=SYNC_CLOCK_ITEM)))
    return None

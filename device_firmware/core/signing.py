"""Signing a transfer (docs/protocol.md §6): the user's menu, amount, payee, confirm, response.

A user whose credential has an OCRA seed has a menu of two entries, their code and "Sign a
transaction"; a user without one goes straight to the code as before (`daily.user_home`):
an entry that could only say "your bank has not enabled this" would cost every such
customer a screen on every use. Signing is typing the amount, then the payee reference,
reading the question back, then reading out the response. ``C`` at any step goes back to
the user's menu, and what was typed goes with the place it was typed in.
"""

from __future__ import annotations

from dataclasses import replace

from device_firmware.core import amount_entry, transfers
from device_firmware.core.catalog import Msg
from device_firmware.core.daily import index_of
from device_firmware.core.keys import BACK, DELETE, OK, Key
from device_firmware.core.menu import USER_MENU, menu_key
from device_firmware.core.records import TokenData
from device_firmware.core.state import (
    ConfirmTransfer,
    EnterAmount,
    EnterPayee,
    ShowCode,
    ShowResponse,
    State,
    UserList,
    UserMenu,
)
from device_firmware.core.text_entry import edit_digits
from device_firmware.core.transitions import Transition, go, stay

SIGN_ITEM = USER_MENU.index(Msg.MENU_SIGN)


def on_key(state: State, key: Key, at: float) -> Transition | None:
    """The transition for `key` at a signing place, or None if the place is not one."""
    data = state.session.data
    place = state.place
    if data is None or not isinstance(
        place, UserMenu | EnterAmount | EnterPayee | ConfirmTransfer | ShowResponse
    ):
        return None
    credential = data.find(place.credential_id)
    if credential is None or not credential.signs_transfers:
        return go(state, UserList(cursor=index_of(data, place.credential_id)))
    if isinstance(place, UserMenu):
        return _user_menu(state, data, place, key)
    signing = UserMenu(place.credential_id, cursor=SIGN_ITEM)
    if key is BACK:
        return go(state, signing)  # cancel: the typed amount and payee are dropped here
    match place:
        case EnterAmount(typed=typed):
            if key is OK:
                refused = amount_entry.check(typed)
                if refused is not None:
                    return go(state, replace(place, refused=refused))
                cents = amount_entry.cents(typed)
                return go(state, EnterPayee(place.credential_id, cents))
            typed, refused = amount_entry.type_key(typed, key)
            return go(state, replace(place, typed=typed, refused=refused))
        case EnterPayee(digits=digits):
            if key is OK:
                if len(digits) != transfers.PAYEE_DIGITS:
                    return go(state, replace(place, refused=Msg.ERR_PAYEE_DIGITS))
                return go(state, ConfirmTransfer(place.credential_id, place.cents, digits))
            digits = edit_digits(digits, key, transfers.PAYEE_DIGITS)
            return go(state, replace(place, digits=digits, refused=None))
        case ConfirmTransfer(cents=cents, payee=payee):
            if key is OK:
                return go(state, ShowResponse(place.credential_id, cents, payee))
            return stay(state)
        case ShowResponse():
            return go(state, signing) if key in (OK, DELETE) else stay(state)
    return stay(state)


def _user_menu(state: State, data: TokenData, place: UserMenu, key: Key) -> Transition:
    if key is BACK:
        return go(state, UserList(cursor=index_of(data, place.credential_id)))
    move = menu_key(place.cursor, len(USER_MENU), key)
    match None if move.chosen is None else USER_MENU[move.chosen]:
        case Msg.MENU_SHOW_CODE:
            return go(state, ShowCode(place.credential_id))
        case Msg.MENU_SIGN:
            return go(state, EnterAmount(place.credential_id))
    return go(state, replace(place, cursor=move.cursor))

"""Menus on a keypad: A/B move the highlight, # chooses it, digit N chooses item N."""

from __future__ import annotations

from dataclasses import dataclass

from device_firmware.core.catalog import Language, Msg
from device_firmware.core.keys import DOWN, OK, UP, Key


@dataclass(frozen=True)
class MenuMove:
    """The outcome of a key on a menu.

    Attributes:
        cursor: the highlighted item afterwards.
        chosen: the index of the item chosen by this key, or None.
    """

    cursor: int
    chosen: int | None = None


def menu_key(cursor: int, size: int, key: Key) -> MenuMove:
    """What `key` does on a menu of `size` items whose highlight is at `cursor`."""
    if size == 0:
        return MenuMove(0)
    cursor = min(max(cursor, 0), size - 1)
    if key is UP:
        return MenuMove(max(0, cursor - 1))
    if key is DOWN:
        return MenuMove(min(size - 1, cursor + 1))
    if key is OK:
        return MenuMove(cursor, cursor)
    if key.digit is not None and 1 <= int(key.digit) <= size:
        index = int(key.digit) - 1
        return MenuMove(index, index)
    return MenuMove(cursor)


# The menus' items, shared by the transitions and the renderer so numbers always agree.
WELCOME_FIRST_START = (Msg.MENU_REGISTER, Msg.MENU_ACTIVATE, Msg.MENU_LANGUAGE_BOTH)
WELCOME_ADD_USER = (Msg.MENU_REGISTER, Msg.MENU_ACTIVATE)
USER_ACTIONS = (Msg.MENU_ADD_USER, Msg.MENU_DELETE_USER, Msg.MENU_SETTINGS)
USER_MENU = (Msg.MENU_SHOW_CODE, Msg.MENU_SIGN)
SETTINGS_ITEMS = (Msg.MENU_LANGUAGE, Msg.MENU_SYNC_CLOCK, Msg.MENU_ABOUT)
CONFIRM_ITEMS = (Msg.YES, Msg.NO)
LANGUAGES = tuple(Language)

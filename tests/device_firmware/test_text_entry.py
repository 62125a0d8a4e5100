"""Multi-tap text entry: cycling letters, timeout, cursor, delete, modes, limits."""

from __future__ import annotations

from device_firmware.core import Key
from device_firmware.core.text_entry import LETTERS, TextEntry, TextMode, edit_digits

T0 = 1000.0


def press(entry: TextEntry, keys: str, at: float = T0) -> TextEntry:
    for char in keys:
        entry = entry.press(Key.parse(char), at)
    return entry


def test_repeated_presses_cycle_the_letters_of_a_key() -> None:
    entry = TextEntry()
    assert press(entry, "2").text == "a"
    assert press(entry, "22").text == "b"
    assert press(entry, "222").text == "c"
    assert press(entry, "2222").text == "2"
    assert press(entry, "22222").text == "a"  # wraps round
    assert press(entry, "7777").text == "s"
    assert press(entry, "6666").text == "ñ"


def test_another_key_fixes_the_pending_letter() -> None:
    entry = press(TextEntry(), "2223")
    assert entry.text == "cd"
    assert entry.cursor == 2
    assert entry.pending_key is Key.DIGIT_3


def test_the_timeout_fixes_the_letter_so_the_same_key_types_a_new_one() -> None:
    entry = TextEntry(timeout=1.0).press(Key.DIGIT_2, T0)
    entry = entry.press(Key.DIGIT_2, T0 + 1.0)
    assert entry.text == "aa"
    quick = TextEntry(timeout=1.0).press(Key.DIGIT_2, T0).press(Key.DIGIT_2, T0 + 0.9)
    assert quick.text == "b"


def test_settle_fixes_only_after_the_timeout() -> None:
    entry = TextEntry(timeout=1.0).press(Key.DIGIT_5, T0)
    assert entry.settle(T0 + 0.5).pending
    assert not entry.settle(T0 + 1.0).pending
    assert entry.settle(T0 + 1.0).text == "j"


def test_star_deletes_the_character_before_the_cursor() -> None:
    entry = press(TextEntry(), "2B3B4")  # "adg" (B moves right = fixes the letter)
    assert entry.text == "adg"
    entry = press(entry, "*")
    assert (entry.text, entry.cursor, entry.pending) == ("ad", 2, False)
    entry = press(entry, "**")
    assert (entry.text, entry.cursor) == ("", 0)
    assert press(entry, "*").text == ""  # nothing left to delete


def test_star_while_cycling_removes_the_pending_letter() -> None:
    entry = press(TextEntry(), "22")
    entry = press(entry, "*")
    assert (entry.text, entry.cursor, entry.pending) == ("", 0, False)


def test_cursor_moves_and_insertion_in_the_middle() -> None:
    entry = press(TextEntry(), "2B3")  # "ad", cursor at 2
    entry = press(entry, "A")  # cursor between a and d
    assert (entry.cursor, entry.pending) == (1, False)
    entry = press(entry, "88")  # insert "u"
    assert (entry.text, entry.cursor) == ("aud", 2)
    entry = press(entry, "AAAA")
    assert entry.cursor == 0
    entry = press(entry, "BBBBBB")
    assert entry.cursor == 3


def test_correcting_a_typo_in_the_middle() -> None:
    entry = TextEntry.of("jperes")
    entry = press(entry, "*")  # remove the "s"
    entry = press(entry, "9999")  # "z"
    assert entry.text == "jperez"


def test_modes_upper_case_and_digits() -> None:
    entry = press(TextEntry(), "D")
    assert entry.mode is TextMode.UPPER
    entry = press(entry, "222")
    assert entry.text == "C"
    entry = press(entry, "D")
    assert entry.mode is TextMode.DIGITS
    entry = press(entry, "222")
    assert entry.text == "C222"
    assert not entry.pending
    entry = press(entry, "D")
    assert entry.mode is TextMode.LOWER


def test_symbols_for_usernames_and_passwords() -> None:
    assert press(TextEntry(), "11").text == "@"
    assert press(TextEntry(), "1").text == "."
    assert press(TextEntry(), "0").text == " "
    assert all(ch in "".join(LETTERS.values()) for ch in ".@-_")


def test_max_length_is_respected() -> None:
    entry = TextEntry(max_length=3)
    entry = press(entry, "2B2B2B2")
    assert entry.text == "aaa"
    assert press(entry, "22").text == "aaa"


def test_ok_back_and_unknown_keys_change_nothing_but_fix_nothing_either() -> None:
    entry = press(TextEntry(), "2")
    assert entry.press(Key.HASH, T0) == entry
    assert entry.press(Key.C, T0) == entry


def test_edit_digits() -> None:
    digits = ""
    for char in "12345":
        digits = edit_digits(digits, Key.parse(char), 4)
    assert digits == "1234"
    assert edit_digits(digits, Key.STAR, 4) == "123"
    assert edit_digits("", Key.STAR, 4) == ""
    assert edit_digits("12", Key.A, 4) == "12"

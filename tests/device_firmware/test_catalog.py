"""The message catalog: every sentence in both languages, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from device_firmware.core.catalog import Language, Msg, say, template


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("msg", list(Msg), ids=lambda m: m.name)
def test_every_message_exists_in_every_language_with_the_same_placeholders(msg: Msg) -> None:
    texts = {language: template(language, msg) for language in Language}
    assert all(text.strip() for text in texts.values())
    assert placeholders(texts[Language.ES]) == placeholders(texts[Language.EN])


def test_say_fills_placeholders() -> None:
    assert say(Language.ES, Msg.PIN_WRONG, remaining=2) == "PIN incorrecto. Intentos restantes: 2."
    assert say(Language.EN, Msg.TITLE_CONFIRM_DELETE, name="Ana") == "Delete Ana?"


def test_bank_wording_is_kept() -> None:
    assert say(Language.ES, Msg.TITLE_DEFINE_PIN, length=4) == (
        "Defina un PIN de acceso de 4 dígitos"
    )
    assert say(Language.ES, Msg.MENU_ADD_USER) == "Agregar otro usuario"
    assert say(Language.ES, Msg.MENU_DELETE_USER) == "Eliminar usuario"
    assert "se desconfiguró y deberá registrarse nuevamente" in say(Language.ES, Msg.ERASED_BODY)


def test_language_names_are_in_their_own_language() -> None:
    assert [language.native_name for language in Language] == ["Español", "English"]

"""The user list: select a user's code, add another user, delete a user (Yes / No)."""

from __future__ import annotations

from collections.abc import Callable

from device_firmware.core import CodeScreen, MenuScreen, MessageScreen, Unreachable
from device_firmware.core.errors import UnknownCredential
from device_firmware.core.fakes import FakeVault
from device_firmware.core.records import TokenData
from device_firmware.core.state import (
    ConfirmDelete,
    DeleteList,
    EnterUsername,
    ShowCode,
    ShowDeviceId,
    Synchronised,
    UserList,
    Welcome,
)
from tests.device_firmware.conftest import Rig, activate, define_pin, register, saved_data
from tests.oracles import oathtool_totp


def stored(rig: Rig) -> TokenData:
    data = saved_data(rig)
    assert data is not None
    return data


def test_the_list_shows_every_user_then_the_actions(enrolled: Rig) -> None:
    screen = enrolled.shown(MenuScreen)
    assert screen.title == "Usuarios"
    assert screen.items == (
        "Ana Pérez",
        "Beto Ruiz",
        "Agregar otro usuario",
        "Eliminar usuario",
        "Configuración",
    )


def test_select_with_the_cursor_or_a_digit(enrolled: Rig) -> None:
    assert enrolled.shown(MenuScreen).cursor == 1  # back from Beto's code, Beto stays highlighted
    enrolled.press("A")
    assert enrolled.shown(MenuScreen).cursor == 0
    enrolled.press("#")
    assert enrolled.shown(CodeScreen).user == "Ana Pérez"
    enrolled.press("C")
    assert enrolled.place == UserList(cursor=0)
    enrolled.press("2")
    assert enrolled.shown(CodeScreen).user == "Beto Ruiz"


def test_cursor_stays_inside_the_list(enrolled: Rig) -> None:
    enrolled.press("AAA")
    assert enrolled.shown(MenuScreen).cursor == 0
    enrolled.press("BBBBBBBBB")
    assert enrolled.shown(MenuScreen).cursor == 4
    enrolled.press("9")  # no ninth item: nothing happens
    assert isinstance(enrolled.place, UserList)


def test_code_screen_matches_oathtool_with_the_learned_offset(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(skew=37.0)  # the bank's clock is 37 s ahead of the token's
    register(rig, "ana", "clave1")
    define_pin(rig)
    credential = stored(rig).credentials[0]
    assert stored(rig).clock_offset == 37.0
    for _ in range(3):
        bank_time = int(rig.clock.now() + 37.0)
        expected = oathtool_totp(credential.seed, "SHA1", 6, 60, bank_time)
        assert rig.shown(CodeScreen).code == f"{expected[:3]} {expected[3:]}"
        rig.clock.advance(60)
        rig.token.tick()


def test_countdown_and_new_code_at_the_step_boundary(enrolled: Rig) -> None:
    clock = enrolled.clock
    clock.set(1_800_000_000.0 + 45.0)  # 15 s before a boundary
    enrolled.press("1")
    first = enrolled.shown(CodeScreen)
    assert (first.seconds_left, first.period, first.countdown) == (15, 60, "Cambia en 15 s")
    frames = len(enrolled.display.frames)
    clock.advance(0.5)
    enrolled.token.tick()
    assert len(enrolled.display.frames) == frames  # nothing changed on screen: nothing sent
    clock.advance(0.5)
    enrolled.token.tick()
    assert enrolled.shown(CodeScreen).seconds_left == 14
    assert enrolled.shown(CodeScreen).code == first.code
    clock.set(1_800_000_059.9)
    enrolled.token.tick()
    assert enrolled.shown(CodeScreen).seconds_left == 1
    assert enrolled.shown(CodeScreen).code == first.code
    clock.set(1_800_000_060.0)
    enrolled.token.tick()
    assert enrolled.shown(CodeScreen).seconds_left == 60
    assert enrolled.shown(CodeScreen).code != first.code
    seed = stored(enrolled).credentials[0].seed
    expected = oathtool_totp(seed, "SHA1", 6, 60, 1_800_000_060)
    assert enrolled.shown(CodeScreen).code.replace(" ", "") == expected


def test_add_another_user_by_registration(enrolled: Rig) -> None:
    enrolled.press("3")  # "Agregar otro usuario"
    assert isinstance(enrolled.place, Welcome)
    screen = enrolled.shown(MenuScreen)
    assert screen.title == "Agregar otro usuario"
    assert screen.items == ("Registrarme con mi usuario", "Activar con un código")
    register(enrolled, "caro", "caro.99")
    assert enrolled.shown(CodeScreen).user == "Caro Díaz"  # no PIN step for an added user
    assert [c.username for c in stored(enrolled).credentials] == ["ana", "beto", "caro"]


def test_add_another_user_by_activation(enrolled: Rig) -> None:
    enrolled.press("3")
    activate(enrolled, "caro")
    assert isinstance(enrolled.place, Synchronised)
    assert len(stored(enrolled).credentials) == 3  # saved before "synchronised" is shown
    enrolled.press("#")
    assert enrolled.shown(CodeScreen).user == "Caro Díaz"


def test_registering_a_user_again_replaces_the_old_credential(enrolled: Rig) -> None:
    old = stored(enrolled).credentials[0]
    enrolled.press("3")
    register(enrolled, "ana", "clave1")
    credentials = stored(enrolled).credentials
    assert [c.username for c in credentials] == ["beto", "ana"]
    assert credentials[1].credential_id != old.credential_id
    assert enrolled.bank.active_credentials("ana") == [credentials[1]]


def test_back_from_add_user_returns_to_the_list(enrolled: Rig) -> None:
    enrolled.press("3")
    enrolled.press("C")
    assert isinstance(enrolled.place, UserList)
    enrolled.press("3")
    enrolled.press("2")  # activation
    assert isinstance(enrolled.place, ShowDeviceId)
    enrolled.press("C")
    enrolled.press("1")
    assert isinstance(enrolled.place, EnterUsername)


def test_delete_user_yes(enrolled: Rig) -> None:
    ana = stored(enrolled).credentials[0]
    enrolled.press("4")  # "Eliminar usuario"
    assert isinstance(enrolled.place, DeleteList)
    assert enrolled.shown(MenuScreen).items == ("X Ana Pérez", "X Beto Ruiz")
    enrolled.press("1")  # the X of Ana
    assert isinstance(enrolled.place, ConfirmDelete)
    confirm = enrolled.shown(MenuScreen)
    assert (confirm.title, confirm.items, confirm.cursor) == (
        "¿Eliminar a Ana Pérez?",
        ("Sí", "No"),
        1,
    )
    enrolled.press("1")  # Sí
    assert isinstance(enrolled.place, UserList)
    assert [c.username for c in stored(enrolled).credentials] == ["beto"]
    assert enrolled.shown(MenuScreen).items[0] == "Beto Ruiz"
    assert enrolled.bank.calls[-1] == "delete_credential"
    assert not enrolled.bank.issued[ana.credential_id].active


def test_delete_user_no(enrolled: Rig) -> None:
    before = stored(enrolled)
    calls = list(enrolled.bank.calls)
    enrolled.press("4B#")  # the X of Beto, with the cursor
    assert enrolled.shown(MenuScreen).title == "¿Eliminar a Beto Ruiz?"
    enrolled.press("#")  # the cursor starts on "No"
    assert enrolled.place == UserList(cursor=1)
    assert stored(enrolled) == before
    assert enrolled.bank.calls == calls


def test_delete_back_and_c_mean_no(enrolled: Rig) -> None:
    before = stored(enrolled)
    enrolled.press("41C")
    assert isinstance(enrolled.place, UserList)
    enrolled.press("4C")
    assert isinstance(enrolled.place, UserList)
    assert stored(enrolled) == before


def test_delete_when_the_bank_is_unreachable_keeps_the_user(enrolled: Rig) -> None:
    before = stored(enrolled)
    enrolled.bank.fail_next(Unreachable("no network"))
    enrolled.press("411")
    assert isinstance(enrolled.screen, MessageScreen)
    assert enrolled.screen.body[0].startswith("No se pudo conectar con el banco.")
    enrolled.press("#")
    assert isinstance(enrolled.place, UserList)
    assert stored(enrolled) == before


def test_delete_a_credential_the_bank_already_retired(enrolled: Rig) -> None:
    enrolled.bank.fail_next(UnknownCredential("retired by a newer registration"))
    enrolled.press("411")
    assert isinstance(enrolled.place, UserList)
    assert [c.username for c in stored(enrolled).credentials] == ["beto"]


def test_deleting_every_user_leaves_an_empty_list(enrolled: Rig) -> None:
    enrolled.press("411")
    enrolled.press("3")  # with one user, "Eliminar usuario" is item 3
    enrolled.press("11")
    screen = enrolled.shown(MenuScreen)
    assert screen.items == ("Agregar otro usuario", "Eliminar usuario", "Configuración")
    assert screen.note == "No hay usuarios registrados."
    enrolled.press("2")  # nothing to delete
    assert isinstance(enrolled.place, UserList)
    enrolled.press("1")
    assert isinstance(enrolled.place, Welcome)


def test_a_full_disk_when_saving_an_added_user(fake_enrolled: Rig) -> None:
    enrolled = fake_enrolled
    before = stored(enrolled)
    assert isinstance(enrolled.vault, FakeVault)
    enrolled.press("3")
    enrolled.vault.fail_writes = True
    register(enrolled, "caro", "caro.99")
    assert isinstance(enrolled.screen, MessageScreen)
    assert enrolled.screen.body[0].startswith("No se pudo guardar")
    enrolled.press("#")
    assert isinstance(enrolled.place, UserList)
    assert stored(enrolled) == before
    assert enrolled.token.state.session.data == before  # memory agrees with the disk


def test_code_screen_back_keys(enrolled: Rig) -> None:
    for key in "C#*":
        enrolled.press("1")
        assert isinstance(enrolled.place, ShowCode)
        enrolled.press("5")  # digits do nothing here
        assert isinstance(enrolled.place, ShowCode)
        enrolled.press(key)
        assert isinstance(enrolled.place, UserList)

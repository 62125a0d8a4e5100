"""The state machine on its own: pure steps, effects asked for, stray events ignored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from device_firmware.core import Key, Language, TokenData, VaultStatus, step
from device_firmware.core.catalog import Msg
from device_firmware.core.errors import StorageFailed, Unreachable, VaultUnreadable
from device_firmware.core.records import Credential, ProvisionedCredential
from device_firmware.core.state import (
    Activating,
    CheckingPin,
    Damaged,
    EnterPin,
    Erasing,
    Notice,
    Opening,
    Place,
    Registering,
    Saving,
    Session,
    ShowCode,
    State,
    UserList,
    Welcome,
)
from device_firmware.core.transitions import (
    KeyPressed,
    LinkFailed,
    OpenVault,
    PinRejected,
    Provisioned,
    Started,
    Tick,
    Unlocked,
    UnlockVault,
    VaultFailed,
    VaultOpened,
    VaultSaved,
    WipeVault,
)

NOW = 1_800_000_000.0
CREDENTIAL = Credential("cred-1", "Banco", "ana", "Ana", seed=b"s" * 20)
DATA = TokenData((CREDENTIAL,))


def at(place: Place, data: TokenData | None = None) -> State:
    return State(place=place, session=Session(device_id=None, data=data))


def status(exists: bool, used: int = 0, allowed: int = 1) -> VaultStatus:
    return VaultStatus(exists, allowed, used, Language.EN)


def test_start_opens_the_vault() -> None:
    transition = step(State(), Started())
    assert transition.state.place == Opening()
    assert transition.effects == (OpenVault(),)


@pytest.mark.parametrize(
    ("vault", "place", "effects"),
    [
        (status(False), Welcome, ()),
        (status(True), EnterPin, ()),
        (status(True, used=1), Erasing, (WipeVault(),)),  # no attempt left: wipe at once
    ],
)
def test_where_opening_leads(vault: VaultStatus, place: type, effects: tuple[object]) -> None:
    transition = step(at(Opening()), VaultOpened(vault, b"key"))
    assert type(transition.state.place) is place
    assert transition.effects == effects
    assert transition.state.session.language is Language.EN
    assert transition.state.session.device_id is not None


def test_step_does_not_change_its_input() -> None:
    before = at(EnterPin(digits="12"))
    copy = replace(before)
    transition = step(before, KeyPressed(Key.DIGIT_3, NOW))
    assert before == copy
    assert transition.state.place == EnterPin(digits="123")


def test_the_pin_is_hidden_from_reprs() -> None:
    transition = step(at(EnterPin(digits="2580")), KeyPressed(Key.HASH, NOW))
    assert transition.effects == (UnlockVault("2580"),)
    assert "2580" not in repr(transition)


@pytest.mark.parametrize(
    "event",
    [
        Unlocked(DATA),
        PinRejected(2),
        VaultSaved(),
        Provisioned(ProvisionedCredential(CREDENTIAL, NOW), NOW),
        LinkFailed(Unreachable("late")),
        Tick(NOW),
    ],
    ids=lambda e: type(e).__name__,
)
def test_answers_arriving_at_the_wrong_place_change_nothing(event: object) -> None:
    state = at(UserList(), DATA)
    assert step(state, event).state == state  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "place",
    [Registering("ana"), Activating(), CheckingPin(), Saving(DATA, UserList(), UserList())],
    ids=lambda p: type(p).__name__,
)
def test_keys_are_ignored_while_busy(place: Place) -> None:
    state = at(place, DATA)
    for key in Key:
        transition = step(state, KeyPressed(key, NOW))
        assert transition.state == state
        assert transition.effects == ()


def test_vault_failures_become_screens() -> None:
    unreadable = step(at(CheckingPin()), VaultFailed(VaultUnreadable("x")))
    assert unreadable.state.place == Damaged()
    saving = at(Saving(DATA, ShowCode("cred-1"), retry=UserList()), DATA)
    notice = step(saving, VaultFailed(StorageFailed("x"))).state.place
    assert isinstance(notice, Notice)
    assert (notice.body, notice.then) == (Msg.ERR_STORAGE, UserList())
    opening = step(at(Opening()), VaultFailed(StorageFailed("x")))
    assert opening.state.place == Damaged()


def test_saved_data_becomes_the_session_data_only_once_written() -> None:
    saving = at(Saving(DATA, then=ShowCode("cred-1"), retry=UserList()))
    assert saving.session.data is None
    done = step(saving, VaultSaved())
    assert done.state.session.data == DATA
    assert done.state.place == ShowCode("cred-1")

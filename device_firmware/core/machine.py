"""The token's state machine: `step(state, event) -> Transition`, a pure function.

Keys and time arrive as events (`KeyPressed`, `Tick`); so do the answers of the ports
(`VaultOpened`, `Unlocked`, `Provisioned`, `LinkFailed`, ...), which the `Token` runner
produces by performing the effects a transition asked for. Nothing here reads a clock, a
file or the network.
"""

from __future__ import annotations

from dataclasses import replace

from device_firmware.core import daily, device_id, enrolment, signing
from device_firmware.core.catalog import Msg
from device_firmware.core.errors import (
    VaultError,
    VaultLockedOut,
    VaultUnreadable,
    VaultWiped,
    WrongPin,
)
from device_firmware.core.screens import Tone
from device_firmware.core.state import (
    CheckingPin,
    Damaged,
    EnterEmailCode,
    EnterPassword,
    EnterPin,
    EnterUsername,
    Erasing,
    Notice,
    Opening,
    Place,
    Registering,
    Saving,
    State,
    Welcome,
)
from device_firmware.core.transitions import (
    CredentialDeleted,
    Event,
    KeyPressed,
    LinkFailed,
    OpenVault,
    PinRejected,
    Provisioned,
    RegistrationStarted,
    ServerTimeLearned,
    Started,
    Tick,
    Transition,
    Unlocked,
    VaultFailed,
    VaultOpened,
    VaultSaved,
    WipeVault,
    go,
    stay,
)


def step(state: State, event: Event) -> Transition:
    """The state after `event`, and the effects the runner must perform next."""
    match event:
        case Started():
            return go(state, Opening(), OpenVault())
        case KeyPressed(key=key, at=at):
            for flow in (enrolment.on_key, daily.on_key, signing.on_key):
                transition = flow(state, key, at)
                if transition is not None:
                    return transition
            return stay(state)
        case Tick(at=at):
            return _tick(state, at)
        case VaultOpened():
            return _vault_opened(state, event)
        case Unlocked(data=data):
            if not isinstance(state.place, CheckingPin):
                return stay(state)
            return daily.unlocked(state, data)
        case PinRejected(attempts_remaining=remaining):
            if not isinstance(state.place, CheckingPin):
                return stay(state)
            return daily.pin_rejected(state, remaining)
        case VaultSaved():
            return _vault_saved(state)
        case VaultFailed(error=error):
            return _vault_failed(state, error)
        case RegistrationStarted(handle=handle):
            if not isinstance(state.place, Registering):
                return stay(state)
            return go(state, EnterEmailCode(handle))
        case Provisioned():
            return enrolment.provisioned(state, event)
        case CredentialDeleted():
            return daily.credential_deleted(state, event)
        case ServerTimeLearned():
            return daily.server_time_learned(state, event)
        case LinkFailed(error=error):
            transition = enrolment.link_failed(state, error) or daily.link_failed(state, error)
            return transition or stay(state)
    return stay(state)


def _tick(state: State, at: float) -> Transition:
    """Fix a pending multi-tap letter once its timeout passes; codes move on in `render`."""
    place = state.place
    if isinstance(place, EnterUsername | EnterPassword):
        entry = place.entry.settle(at)
        if entry != place.entry:
            return go(state, replace(place, entry=entry))
    return stay(state)


def _vault_opened(state: State, event: VaultOpened) -> Transition:
    status = event.status
    session = replace(
        state.session,
        language=status.language,
        device_id=device_id.make(event.public_key),
        public_key=event.public_key,
        attempts_allowed=status.attempts_allowed,
        attempts_remaining=status.attempts_remaining,
        data=state.session.data if status.exists else None,  # no vault, nothing unlocked
    )
    state = state.with_session(session)
    match state.place:
        case Opening():
            if not status.exists:
                return go(state, Welcome())
            if status.attempts_remaining == 0:
                # Counted attempts used up, e.g. the power was cut after the last one was
                # written and before it was checked: the vault must not be opened again.
                return go(state, Erasing(then=_erased(Welcome())), WipeVault())
            return go(state, EnterPin())
        case Erasing(then=then):
            return go(state, then)
    return stay(state)


def _vault_saved(state: State) -> Transition:
    place = state.place
    if not isinstance(place, Saving):
        return stay(state)
    session = replace(
        state.session, data=place.pending, attempts_remaining=state.session.attempts_allowed
    )
    return go(state.with_session(session), place.then)


def _vault_failed(state: State, error: VaultError) -> Transition:
    place = state.place
    if isinstance(error, WrongPin):
        return daily.pin_rejected(state, error.attempts_remaining)
    if isinstance(error, VaultWiped):
        locked = state.with_session(replace(state.session, data=None))
        return go(locked, _erased(Welcome()), OpenVault())  # OpenVault: the new device ID
    if isinstance(error, VaultLockedOut):
        hours = str(max(1, -(-error.retry_after // 3600)))  # rounded up
        locked_out = Notice(
            Msg.TITLE_ERROR, Msg.ERR_LOCKED_OUT, then=EnterPin(), tone=Tone.ERROR,
            params=(("hours", hours),),
        )  # fmt: skip
        return go(state, locked_out)
    if isinstance(error, VaultUnreadable) or isinstance(place, Opening | Erasing):
        return go(state, Damaged())
    retry: Place = place
    if isinstance(place, Saving):
        retry = place.retry
    elif isinstance(place, CheckingPin):
        retry = EnterPin()
    return go(state, Notice.error(Msg.ERR_STORAGE, then=retry))


def _erased(then: Place) -> Notice:
    return Notice(Msg.TITLE_ERASED, Msg.ERASED_BODY, then=then, tone=Tone.ERROR)

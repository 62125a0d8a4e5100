"""Opening the PKCS#11 module, finding the token, logging in, and re-opening after a loss.

Everything here runs on the PKCS#11 thread (see `hsm.executor`); nothing is thread-safe on
its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as p11e
import structlog

from hsm.config import HsmConfig
from hsm.errors import HsmUnavailable

T = TypeVar("T")
log = structlog.get_logger("hsm")

# Errors after which the session (or the whole library) must be opened again.
SESSION_LOST: tuple[type[Exception], ...] = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceRemoved,
    p11e.DeviceError,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.GeneralError,
    p11e.UserNotLoggedIn,
    p11e.KeyHandleInvalid,
    p11e.ObjectHandleInvalid,
    p11e.WrappingKeyHandleInvalid,
    p11e.UnwrappingKeyHandleInvalid,
)

# Login state belongs to the application (the process), not to a session: remember which
# PIN logged in so that a second opener with another PIN is refused, not silently let in.
_logged_in: dict[tuple[str, str], bytes] = {}
os.register_at_fork(after_in_child=_logged_in.clear)

# How many times each module was (re)initialised in this process. Finalising a module voids
# every session and object handle of every Connection on it, and the numbers start again:
# a handle from an older initialisation may name someone else's session or object now.
_initialisations: dict[str, int] = {}


def _initialising(module: str) -> None:
    _initialisations[module] = _initialisations.get(module, 0) + 1


# Seconds (give or take half) before each new initialisation when the token is not seen:
# together about 0.6 s, little beside the reconnect interval a failure would cost. Four
# processes opening one token 150 times each at once: 9 of 600 opens failed with three
# pauses, 1 of 600 with this fourth (`python -m tests.hsm.concurrent_opens`, 2026-12-07).
_REINITIALISING_PAUSES = (0.01, 0.05, 0.15, 0.4)


class _TokenUnseen(HsmUnavailable):
    """The module does not show the token (or failed reading it): initialising the module
    again may show it. `module_failed`: the module itself could not list its tokens."""

    def __init__(self, message: str, *, module_failed: bool = False) -> None:
        super().__init__(message)
        self.module_failed = module_failed


# Every Connection of the process: initialising a module again voids the sessions of all.
_connections: weakref.WeakSet[Connection] = weakref.WeakSet()


def _lost(exc: Exception) -> bool:
    # CKR_CRYPTOKI_NOT_INITIALIZED has no class of its own in python-pkcs11.
    return isinstance(exc, SESSION_LOST) or type(exc) is p11e.PKCS11Error


class Connection:
    """One logged-in read/write session on the configured token."""

    def __init__(self, config: HsmConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lib: Any = None
        self._token: pkcs11.Token | None = None
        self._session: pkcs11.Session | None = None
        self._initialisation = 0  # the module's, when the session was opened
        self._failure: HsmUnavailable | None = None
        self._retry_at = 0.0
        self.generation = 0
        """Grows each time a new session is opened; handles from older sessions are void."""
        _connections.add(self)

    @property
    def token(self) -> pkcs11.Token | None:
        """The token found at the last opening, if any."""
        return self._token

    @property
    def is_open(self) -> bool:
        """True while a session is held."""
        return self._live() is not None

    def session(self) -> pkcs11.Session:
        """The open session, opening it first if needed.

        Raises:
            HsmUnavailable: the module, the token or the PIN cannot be used. After a failure,
                calls within `reconnect_interval` seconds fail at once with the same reason.
        """
        if (live := self._live()) is not None:
            return live
        if self._failure is not None and self._clock() < self._retry_at:
            raise self._failure
        try:
            self._session = self._open()
            self._initialisation = _initialisations.get(str(self.config.module), 0)
        except HsmUnavailable as exc:
            self._failure = exc
            self._retry_at = self._clock() + self.config.reconnect_interval
            log.warning("hsm.unavailable", reason=str(exc))
            raise
        self._failure = None
        self.generation += 1
        log.info("hsm.session_opened", token=self.config.token_label, generation=self.generation)
        return self._session

    def run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        """Run `operation` on the session; after a lost session, re-open once and retry."""
        for attempt in range(2):
            session = self.session()
            try:
                return operation(session)
            except Exception as exc:
                if not _lost(exc):
                    raise
                log.warning("hsm.session_lost", error=type(exc).__name__, attempt=attempt + 1)
                self.reset(hard=True)
                if attempt == 1:
                    raise HsmUnavailable(
                        f"the session on token {self.config.token_label!r} was lost and "
                        f"re-opening it did not help ({type(exc).__name__})"
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def reset(self, *, hard: bool = False) -> None:
        """Drop the session; with `hard`, also finalise and re-initialise the library."""
        session, self._session = self._live(), None  # a void handle is never closed
        if session is not None:
            try:
                session.close()
            except p11e.PKCS11Error:
                pass
        if hard and self._lib is not None:
            self._finalise(self._lib)

    def close(self) -> None:
        """Close the session (the library stays loaded for other users in the process)."""
        self.reset()

    def _live(self) -> pkcs11.Session | None:
        """The session, unless the module was initialised again since it was opened (by
        another Connection after a loss): then its handle is void and it is dropped."""
        if self._session is not None and self._initialisation != _initialisations.get(
            str(self.config.module), 0
        ):
            self._session = None
        return self._session

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> pkcs11.Session:
        lib = self._load()
        for pause in _REINITIALISING_PAUSES:
            try:
                return self._login(self._find_token(lib))
            except _TokenUnseen as exc:
                # Modules list their tokens when they are initialised, and SoftHSM never
                # lists them again: a token added since is not seen, nor one SoftHSM dropped
                # because another process wrote it as this one read it (processes logging
                # in at once: each login writes the token's flags). Initialise again, after
                # a pause that differs between processes, so that the writers are done;
                # not while the module serves another Connection of this process (a wrong
                # label would void its session at every attempt), unless it failed.
                if not exc.module_failed and self._module_serves_others():
                    raise
                log.info("hsm.reinitialising", reason=str(exc))
                self._finalise(lib)
                time.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, no secret
                try:
                    lib.initialize()
                except p11e.PKCS11Error as init_exc:
                    raise HsmUnavailable(
                        f"PKCS#11 module {self.config.module} cannot be initialised again "
                        f"({type(init_exc).__name__})"
                    ) from init_exc
        return self._login(self._find_token(lib))

    def _module_serves_others(self) -> bool:
        return any(
            other is not self
            and other.config.module == self.config.module
            and other._live() is not None
            for other in list(_connections)
        )

    def _finalise(self, lib: Any) -> None:
        """Finalise the module (and python-pkcs11's view of it, even if other code in the
        process finalised it already): every session and handle on it is void."""
        module = str(self.config.module)
        for key in [k for k in _logged_in if k[0] == module]:
            del _logged_in[key]  # finalising logs every token of the module out
        try:
            lib.finalize()
        except p11e.PKCS11Error:
            pass  # "not initialised": finalised behind python-pkcs11's back; the flag is reset
        _initialising(module)
        self._token = None

    def _load(self) -> Any:
        module = self.config.module
        if not module.is_file():
            raise HsmUnavailable(f"PKCS#11 module {module} does not exist")
        try:
            # initialises a module finalised through it (`reset` counted that finalisation)
            lib = pkcs11.lib(str(module))
        except p11e.PKCS11Error as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise HsmUnavailable(
                f"PKCS#11 module {module} cannot be loaded or initialised ({detail})"
            ) from exc
        self._lib = lib
        return lib

    def _find_token(self, lib: Any) -> pkcs11.Token:
        label = self.config.token_label
        try:
            slots = lib.get_slots(token_present=True)
            tokens = [slot.get_token() for slot in slots]
        except p11e.PKCS11Error as exc:
            # e.g. CKR_CRYPTOKI_NOT_INITIALIZED (no class of its own): other code in the
            # process finalised the module behind python-pkcs11's back, whose flag still
            # says initialised, so that its initialize() alone would do nothing; or
            # SoftHSM's GeneralError when it could not read a token
            raise _TokenUnseen(
                f"cannot list the tokens of {self.config.module}: {type(exc).__name__}",
                module_failed=True,
            ) from exc
        for token in tokens:
            if token.label == label:
                self._token = token
                found: pkcs11.Token = token
                return found
        names = ", ".join(repr(t.label) for t in tokens if t.label) or "none"
        raise _TokenUnseen(
            f"no token labelled {label!r} in {self.config.module} (tokens found: {names})"
        )

    def _login(self, token: pkcs11.Token) -> pkcs11.Session:
        label = self.config.token_label
        key = (str(self.config.module), label)
        digest = hashlib.sha256(self.config.user_pin.encode()).digest()
        try:
            session = token.open(rw=True, user_pin=self.config.user_pin)
        except p11e.UserAlreadyLoggedIn:
            known = _logged_in.get(key)
            if known is None or not hmac.compare_digest(known, digest):
                raise HsmUnavailable(
                    f"the user PIN for token {label!r} was refused "
                    "(already logged in with another PIN)"
                ) from None
            session = token.open(rw=True)
        except p11e.PinIncorrect:
            raise HsmUnavailable(f"the user PIN for token {label!r} was refused") from None
        except p11e.PinLocked:
            raise HsmUnavailable(f"the user PIN for token {label!r} is locked") from None
        except (p11e.PinLenRange, p11e.PinInvalid):
            raise HsmUnavailable(
                f"the user PIN for token {label!r} has an invalid length or characters"
            ) from None
        except p11e.UserPinNotInitialized:
            # or SoftHSM read the token while another process wrote it: worth a second look
            # (unlike a refused PIN: a real HSM counts each wrong try towards locking it)
            raise _TokenUnseen(f"token {label!r} has no user PIN set") from None
        except (p11e.GeneralError, p11e.TokenNotPresent, p11e.TokenNotRecognised) as exc:
            # SoftHSM could not read the token (another process was writing it): worth
            # another look, there only. It counts no PIN tries (SoftHSMv2 issue #399); an
            # HSM that does might count this one, and would count the next.
            softhsm = token.manufacturer_id.startswith("SoftHSM")
            raise (_TokenUnseen if softhsm else HsmUnavailable)(
                f"cannot open a session on token {label!r}: {type(exc).__name__}"
            ) from exc
        except p11e.PKCS11Error as exc:
            raise HsmUnavailable(
                f"cannot open a session on token {label!r}: {type(exc).__name__}"
            ) from exc
        _logged_in[key] = digest
        return session

"""One thread per process for every PKCS#11 call.

python-pkcs11 initialises the library without locking callbacks, and SoftHSM then does no
locking of its own: two threads inside it at once crash the process. So every call into the
library, from every `Hsm` object in the process, runs on this single thread. Callers on other
threads wait for the result (`Hsm.run_async` lets asyncio code wait from a worker thread).
After a fork the child gets a fresh executor (and must open the library again).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class SerialExecutor:
    """Runs callables one at a time on one dedicated thread."""

    def __init__(self) -> None:
        self._ident: int | None = None
        self._overdue: Future[Any] | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pkcs11", initializer=self._remember_thread
        )

    def _remember_thread(self) -> None:
        self._ident = threading.get_ident()

    def on_thread(self) -> bool:
        """True when the caller already runs on the PKCS#11 thread."""
        return threading.get_ident() == self._ident

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the PKCS#11 thread and return its result (inline if already there)."""
        if self.on_thread():
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    def call_within(
        self, timeout: float | None, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `call`, waiting at most `timeout` seconds.

        Raises:
            TimeoutError: `fn` did not finish in time (it may still run: PKCS#11 calls
                cannot be interrupted), or an earlier call that overran is still running.
        """
        if timeout is None or self.on_thread():
            return self.call(fn, *args, **kwargs)
        overdue = self._overdue
        if overdue is not None and not overdue.done():
            raise TimeoutError("an earlier call on the PKCS#11 thread has not returned yet")
        future = self._pool.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout)
        except FutureTimeout:
            if not future.cancel():  # already running: later calls fail fast until it ends
                self._overdue = future
            raise TimeoutError(f"the PKCS#11 call did not return within {timeout:g} s") from None


_executor: SerialExecutor | None = None
_lock = threading.Lock()


def pkcs11_executor() -> SerialExecutor:
    """The process-wide executor, created on first use."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = SerialExecutor()
        return _executor


def _forget_after_fork() -> None:
    global _executor, _lock
    _executor = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)

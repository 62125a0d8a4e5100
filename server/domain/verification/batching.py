"""Group commit for the verify API.

Requests that arrive while a batch is being decided wait for the next batch, which
`VerificationService.verify_many` decides with one read, one hop to the HSM and one
transaction with one audit seal. An idle server decides a lone request at once (no timer,
no added latency); a busy one shares the fixed costs (the write lock, the commit's fsync,
the seal, the thread hops) between all the requests that came together.

One thread decides the batches, one after the other, so the server's own verifications
never queue for the database's write lock behind each other.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import structlog

from server.domain.verification.services import Outcome, VerificationService, VerifyRequest
from server.metrics import Metrics

log = structlog.get_logger("server.verify")

_Waiting = tuple[VerifyRequest, "asyncio.Future[Outcome]"]


class VerifyBatcher:
    """Hands requests from the event loop to `verify_many`, in batches of up to
    `max_batch`, and each decision back to its request."""

    def __init__(
        self, service: VerificationService, max_batch: int = 64, metrics: Metrics | None = None
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self._service = service
        self._max_batch = max_batch
        self._metrics = metrics
        self._waiting: deque[_Waiting] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify")
        self.batches = 0
        """Batches decided so far (the tests and the metrics read it)."""

    async def verify(self, request: VerifyRequest) -> Outcome:
        """Decide on `request` together with whatever else is waiting.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed for this batch; nothing of
                it was written.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start one per client)
            self._loop, self._worker, self._waiting = loop, None, deque()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._waiting.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._decide_waiting())
        return await future

    async def _decide_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            count = min(len(self._waiting), self._max_batch)
            batch = [self._waiting.popleft() for _ in range(count)]
            requests = [request for request, _ in batch]
            if self._metrics is not None:
                self._metrics.verify_batch_size.observe(count)
            try:
                outcomes = await loop.run_in_executor(
                    self._thread, self._service.verify_many, requests
                )
            except Exception as exc:  # each waiting request gets the batch's error
                log.warning("verify.batch_failed", size=count, error=type(exc).__name__)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # the client may have gone: its decision stands
                    future.set_result(outcome)

    def close(self) -> None:
        """Let the deciding thread end once its batch is done."""
        self._thread.shutdown(wait=False)

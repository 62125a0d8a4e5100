"""Group commit for the verify API, in a two-stage pipeline.

Requests that arrive while a batch is being decided wait for the next batch, which
`VerificationService` decides in two stages: `prepare` (one read and one hop to the HSM)
and `commit` (one transaction with one audit seal). An idle server decides a lone request
at once (no timer, no added latency); a busy one shares the fixed costs (the write lock,
the commit's fsync, the seal, the thread hops) between all the requests that came
together.

The stages overlap: while batch k commits, batch k+1 is prepared, so the HSM and the
database work at the same time. Each stage has one thread, so batches commit in the
order they came and the server's own verifications never queue for the database's write
lock behind each other. `commit` applies its decisions against the state as it is then,
so batch k+1 holds whatever batch k wrote (see `services`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import structlog

from server.db.engine import error_facts, is_outage
from server.domain.verification.rules import Outcome, VerifyRequest
from server.domain.verification.service import Prepared, VerificationService
from server.metrics import Metrics

log = structlog.get_logger("server.verify")

_Waiting = tuple[VerifyRequest, "asyncio.Future[Outcome]"]


class VerifyBatcher:
    """Hands requests from the event loop to the verification service, in batches of up
    to `max_batch`, and each decision back to its request."""

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
        self._commits: deque[asyncio.Task[None]] = deque()
        """Commits under way or queued, oldest first; each starts when the one before ends."""
        self._preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-prepare")
        self._committing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-commit")
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
            self._loop, self._worker = loop, None
            self._waiting, self._commits = deque(), deque()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._waiting.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._decide_waiting())
        return await future

    async def _decide_waiting(self) -> None:
        """Prepare the waiting requests batch after batch, each while the ones before it
        commit; end when nothing waits (the commits under way finish by themselves)."""
        loop = asyncio.get_running_loop()
        commits = self._commits
        while self._waiting:
            while commits and commits[0].done():
                commits.popleft()
            while len(commits) >= 2:  # at most one prepared batch waits for its commit
                await commits.popleft()
            count = min(len(self._waiting), self._max_batch)
            batch = [self._waiting.popleft() for _ in range(count)]
            if self._metrics is not None:
                self._metrics.verify_batch_size.observe(count)
            for part, prepared in await self._prepared(batch):
                before = commits[-1] if commits else None
                commits.append(loop.create_task(self._commit(part, prepared, before)))

    async def _prepared(self, batch: list[_Waiting]) -> list[tuple[list[_Waiting], Prepared]]:
        """`batch` prepared as one; when that fails for a reason one request can cause (not
        a database outage), each request alone: the others are decided, the bad one fails."""
        loop = asyncio.get_running_loop()
        try:
            requests = [request for request, _ in batch]
            prepared = await loop.run_in_executor(self._preparing, self._service.prepare, requests)
            return [(batch, prepared)]
        except Exception as exc:
            if len(batch) == 1 or is_outage(exc):
                _fail(batch, exc)
                return []
            _split(batch, "prepare", exc)
        parts = []
        for waiting in batch:
            parts += await self._prepared([waiting])
        return parts

    async def _commit(
        self, batch: list[_Waiting], prepared: Prepared, before: asyncio.Task[None] | None
    ) -> None:
        """Commit `prepared` once the batch `before` it is committed (batches commit in the
        order they came), and answer each of its requests."""
        if before is not None:
            await before  # never raises: a failed commit answers its own requests
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self._committing, self._service.commit, prepared)
        except Exception as exc:
            if len(batch) == 1 or is_outage(exc):
                _fail(batch, exc)
                return
            _split(batch, "commit", exc)
            for waiting, check in zip(batch, prepared.checks, strict=True):
                await self._commit([waiting], Prepared([check], prepared.now), None)
            return
        self.batches += 1
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # the client may have gone: its decision stands
                future.set_result(outcome)

    def close(self) -> None:
        """Wait for the batches under way to be decided; the threads end then."""
        self._preparing.shutdown(wait=True)
        self._committing.shutdown(wait=True)


def _split(batch: list[_Waiting], stage: str, exc: Exception) -> None:
    log.warning(
        "verify.batch_split",
        stage=stage,
        size=len(batch),
        error=type(exc).__name__,
        **error_facts(exc),
    )


def _fail(batch: list[_Waiting], exc: Exception) -> None:
    """Each waiting request of `batch` gets the batch's error."""
    # a database error's SQLSTATE or code says which (40P01 deadlock, SQLITE_BUSY...)
    log.warning(
        "verify.batch_failed", size=len(batch), error=type(exc).__name__, **error_facts(exc)
    )
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)

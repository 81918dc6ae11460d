"""A small job queue that keeps long computations off the request path.

A fixed number of worker threads take jobs from per-client queues in turn (round robin), so one
client asking for many results cannot make another wait behind all of them. Jobs are small (at
most ``limits.SMALL_JOB_RUNS`` timelines) or big: a worker always takes a waiting small job
first, and big jobs may occupy all workers but one, so a small request is never stuck behind big
ones (with one worker, behind at most the one running). Background jobs (``background=True``:
work nobody is waiting for yet, such as a report's charts) run only when no other job waits, and
under the same all-workers-but-one rule as big jobs. The queue is bounded: past
``max_pending`` waiting jobs, ``submit`` raises :class:`QueueFull` with a ``retry_after_s``
estimate instead of letting requests pile up. The same computation asked for twice while it is
still queued or running is one job. A job that fails (bad input found late, or a bug) is marked
failed with its message; the workers and the other jobs carry on. ``close`` cancels the running
jobs at their next progress report, so a server stops within a second or two.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kremlinology.limits import MAX_PENDING_JOBS, SMALL_JOB_RUNS
from kremlinology.scenario.errors import KremlinologyError

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


class QueueFull(Exception):
    """Too many jobs are waiting; the client should try again in ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobCancelled(Exception):
    """The server is shutting down: the job stops at its next progress report."""


@dataclass
class Job:
    """One computation: its state, the stage it is in and an estimate of its progress."""

    key: str
    kind: str
    client: str
    work: Callable[[Job], Any]
    estimate_s: float | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    state: str = QUEUED
    stage: str = "waiting in line"
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    error_kind: str | None = None  # "input" (the client's to fix) or "internal"
    result: Any = None
    future: Future[Any] = field(default_factory=Future)
    meta: dict[str, Any] = field(default_factory=dict)
    small: bool = True
    background: bool = False
    cancelled: bool = False
    _stage_weight: tuple[float, float] = (0.0, 0.0)
    _stage_started: float = 0.0
    _stage_estimate: float | None = None
    _stage_share: float | None = None

    def set_stage(
        self, stage: str, low: float, high: float, estimate_s: float | None = None
    ) -> None:
        """Enter a stage covering progress ``low .. high``; ``estimate_s`` its expected length."""
        self.stage = stage
        self._stage_weight = (low, high)
        self._stage_started = time.monotonic()
        self._stage_estimate = estimate_s
        self._stage_share = None

    def report(self, done: int, total: int) -> None:
        """Report measured progress within the current stage (``done`` of ``total`` units).

        Raises JobCancelled once the job is cancelled: the computation ends here.
        """
        if self.cancelled:
            raise JobCancelled("the server is shutting down")
        if total > 0:
            self._stage_share = max(0.0, min(1.0, done / total))

    @property
    def progress(self) -> float:
        """Estimated share done, 0 to 1 (within a stage: by elapsed time against its estimate)."""
        if self.state == DONE:
            return 1.0
        if self.state != RUNNING:
            return 0.0
        low, high = self._stage_weight
        if self._stage_share is not None:
            return low + (high - low) * self._stage_share
        if not self._stage_estimate:
            return low
        share = (time.monotonic() - self._stage_started) / self._stage_estimate
        return low + (high - low) * min(share, 0.95)

    @property
    def estimated(self) -> bool:
        """Whether ``progress`` moves within the current stage (it has a time estimate)."""
        return self.state != RUNNING or self._stage_share is not None or bool(self._stage_estimate)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job started (since it was queued, while it waits); fixed once done."""
        end = self.finished if self.finished is not None else time.monotonic()
        return end - (self.started if self.started is not None else self.created)


class _Lane:
    """Per-client FIFO queues served in round robin (a client goes to the back once served)."""

    def __init__(self) -> None:
        self.queues: OrderedDict[str, deque[Job]] = OrderedDict()

    def push(self, job: Job) -> None:
        self.queues.setdefault(job.client, deque()).append(job)

    def pop(self) -> Job | None:
        for client, queue in self.queues.items():
            job = queue.popleft()
            del self.queues[client]
            if queue:
                self.queues[client] = queue  # back of the rotation
            return job
        return None

    def order(self) -> list[Job]:
        """The jobs in the order they will be served."""
        queues = [list(q) for q in self.queues.values()]
        depth = max((len(q) for q in queues), default=0)
        return [q[level] for level in range(depth) for q in queues if level < len(q)]

    def remove(self, job: Job) -> bool:
        """Take a waiting job out of its client's queue; False when it is not here."""
        queue = self.queues.get(job.client)
        if queue is None or job not in queue:
            return False
        queue.remove(job)
        if not queue:
            del self.queues[job.client]
        return True

    def drain(self) -> list[Job]:
        jobs = [job for queue in self.queues.values() for job in queue]
        self.queues.clear()
        return jobs

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())


class JobQueue:
    """Worker threads serving small jobs first, each kind in round robin between clients."""

    def __init__(
        self, workers: int = 2, max_pending: int = MAX_PENDING_JOBS, keep: int = 200
    ) -> None:
        if workers < 1 or max_pending < 1:
            raise ValueError("workers and max_pending must be at least 1")
        self.max_pending = max_pending
        self._keep = keep
        self._lock = threading.Condition()
        self._small, self._big, self._idle = _Lane(), _Lane(), _Lane()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active: dict[str, Job] = {}  # key -> queued or running job
        self._running: dict[str, Job] = {}  # id -> running job
        self._workers = workers
        self._closed = True
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._took: deque[float] = deque(maxlen=20)  # seconds of the last jobs, for Retry-After
        self.open()

    def open(self) -> None:
        """Start the workers (again, after ``close``)."""
        with self._lock:
            if not self._closed:
                return
            self._closed = False
            self._generation += 1
            # Each worker runs in a copy of the context the queue was opened in, so that the
            # engine and cluster chosen around it (``serve --engine/--cluster``) hold there too.
            self._threads = [
                threading.Thread(
                    target=contextvars.copy_context().run,
                    args=(self._worker, self._generation),
                    name=f"kremlinology-job-{i}",
                    daemon=True,
                )
                for i in range(self._workers)
            ]
            for thread in self._threads:
                thread.start()

    def submit(
        self,
        key: str,
        kind: str,
        work: Callable[[Job], Any],
        client: str = "anonymous",
        estimate_s: float | None = None,
        meta: dict[str, Any] | None = None,
        runs: int = 0,
        background: bool = False,
    ) -> Job:
        """Queue ``work(job)``, or return the queued or running job with the same key.

        ``runs`` (timelines) sizes the job: at most SMALL_JOB_RUNS is small. A ``background``
        job waits until nothing else does; asked for again in the foreground while it still
        waits, it moves to its size's lane. Raises QueueFull when ``max_pending`` jobs are
        waiting already (for a background job: ``max_pending`` background jobs).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            existing = self._active.get(key)
            if existing is not None:
                if not background and existing.state == QUEUED and self._idle.remove(existing):
                    existing.background = False
                    (self._small if existing.small else self._big).push(existing)
                    self._lock.notify_all()
                return existing
            if background and len(self._idle) >= self.max_pending:
                raise QueueFull("too much background work is waiting", self._retry_after())
            if not background and self.pending() >= self.max_pending:
                raise QueueFull(
                    f"the server is busy: {self.pending()} jobs are waiting; try again later",
                    self._retry_after(),
                )
            job = Job(key, kind, client, work, estimate_s, meta=dict(meta or {}))
            job.small = runs <= SMALL_JOB_RUNS
            job.background = background
            lane = self._idle if background else self._small if job.small else self._big
            lane.push(job)
            self._active[key] = job
            self._jobs[job.id] = job
            self._forget_old()
            self._lock.notify_all()
            return job

    def _retry_after(self) -> int:
        """Seconds until a place in the queue is likely free (1 to 600)."""
        typical = sorted(self._took)[len(self._took) // 2] if self._took else 10.0
        waiting = self.pending() / self._workers + 1
        return max(1, min(600, round(typical * waiting)))

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None when unknown or forgotten."""
        with self._lock:
            return self._jobs.get(job_id)

    def pending(self) -> int:
        """Number of jobs waiting for a worker (background work not counted)."""
        return len(self._small) + len(self._big)

    def position(self, job: Job) -> int:
        """How many queued jobs will start before this one (0 for a running or finished job)."""
        with self._lock:
            if job.state != QUEUED:
                return 0
            order = self._small.order() + self._big.order() + self._idle.order()
            return order.index(job) if job in order else 0

    def close(self, timeout: float = 2.0) -> None:
        """Stop taking jobs; fail the queued ones; cancel the running ones at their next progress
        report and wait for them up to ``timeout`` seconds."""
        with self._lock:
            self._closed = True
            waiting = self._small.drain() + self._big.drain() + self._idle.drain()
            for job in self._running.values():
                job.cancelled = True
            self._lock.notify_all()
        for job in waiting:
            self._finish(job, RuntimeError("the server is shutting down"))
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _next(self, generation: int) -> Job | None:
        """The next job for a worker: a small one first; then a big one, then a background one,
        while another worker stays free for small ones (or this is the only worker)."""
        while not self._closed and generation == self._generation:
            job = self._small.pop()
            if job is None and (len(self._big) or len(self._idle)):
                busy = sum(1 for j in self._running.values() if not j.small or j.background)
                if busy < max(1, self._workers - 1):
                    job = self._big.pop() or self._idle.pop()
            if job is not None:
                return job
            self._lock.wait()
        return None

    def _worker(self, generation: int) -> None:
        while True:
            with self._lock:
                job = self._next(generation)
                if job is None:
                    return
                job.state, job.started = RUNNING, time.monotonic()
                job.set_stage("starting", 0.0, 0.0)
                self._running[job.id] = job
            if not job.future.set_running_or_notify_cancel():
                self._finish(job, RuntimeError("cancelled"))
                continue
            try:
                value = job.work(job)
            except BaseException as error:
                self._finish(job, error)
            else:
                self._finish(job, None, value)

    def _finish(self, job: Job, error: BaseException | None, value: Any = None) -> None:
        with self._lock:
            job.finished = time.monotonic()
            if self._running.pop(job.id, None) is not None:
                self._took.append(job.elapsed_s)
                self._lock.notify_all()  # a big job's end may free a worker for another
            if error is None:
                job.state, job.stage, job.result = DONE, "done", value
            else:
                job.state, job.stage = FAILED, "failed"
                if isinstance(error, KremlinologyError | ValueError):
                    job.error, job.error_kind = str(error), "input"
                else:
                    job.error = f"internal error: {type(error).__name__}: {error}"
                    job.error_kind = "internal"
                    log.error("job %s (%s) failed", job.id, job.kind, exc_info=error)
            if self._active.get(job.key) is job:
                del self._active[job.key]
        if job.future.done():
            return
        if error is None:
            job.future.set_result(value)
        else:
            job.future.set_exception(error)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in (DONE, FAILED)]
        for job in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]

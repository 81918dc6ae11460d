"""The one place where timelines are cut into blocks and blocks are mapped over workers.

Every result of the package is identical whatever the blocks and the workers, because each random
draw depends only on (seed, timeline, month, event, slot) and block results are merged in timeline
order. This module provides the two halves of that contract:

* **Spans.** ``spans(runs, size)`` cuts ``runs`` timelines into consecutive :class:`Span` s of at
  most ``size``; ``balanced_spans(runs, size, workers)`` cuts them into a multiple of ``workers``
  spans of (nearly) equal size, so that every worker gets the same amount of work.

* **Executors.** An :class:`Executor` maps a picklable top-level function over a sequence of tasks
  and yields the results **in task order**, whatever order they finish in::

      with open_executor(workers, len(tasks)) as executor:
          for result in executor.map(run_block, tasks):
              merge(result)

  ``open_executor`` returns the :class:`InlineExecutor` (this process, one task after another)
  when one worker is asked for or there is a single task, and otherwise the backend named by
  ``backend``: ``"process"`` is a :class:`ProcessExecutor` (a local process pool). An executor may
  be used for several ``map`` calls (a twin run maps its common histories, then its twins) and is
  closed when its ``with`` block ends.

  To add a backend, write a class with ``map``, ``__enter__`` and ``__exit__`` that keeps the
  task-order contract, and add its constructor (taking the number of workers) to
  :data:`BACKENDS`.

* **Clusters.** Inside ``engine.cluster.use_cluster(...)``, ``open_executor`` returns the
  cluster's :class:`~kremlinology.engine.cluster.DaskExecutor` whatever ``workers`` says, and
  :func:`width` is the cluster's number of workers, so runs cut themselves for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

from kremlinology.engine.cluster import current_executor
from kremlinology.processes import process_pool

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Span:
    """Timelines ``first .. first + count - 1`` of a run."""

    first: int
    count: int


def spans(runs: int, size: int) -> list[Span]:
    """Consecutive spans of at most ``size`` timelines covering ``0 .. runs - 1``."""
    if size < 1:
        raise ValueError("the block size must be at least 1")
    return [Span(first, min(size, runs - first)) for first in range(0, runs, size)]


def balanced_spans(runs: int, size: int, workers: int) -> list[Span]:
    """Spans of at most ``size`` timelines, as a multiple of ``workers`` spans of equal size.

    (The last span may be shorter; when ``runs`` is small, fewer spans than ``workers``.)
    """
    parts = max(1, workers)
    count = -(-runs // size)
    count = -(-count // parts) * parts
    even = -(-runs // count)
    return spans(runs, even)


class Executor(Protocol):
    """Maps a function over tasks; results come back in task order."""

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> Iterator[ResultT]:
        """Yield ``fn(task)`` for every task, in the order of ``tasks``."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class InlineExecutor:
    """Runs every task in this process, one after another (lazily, as results are asked for)."""

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> Iterator[ResultT]:
        """Yield ``fn(task)`` for every task, in order."""
        return map(fn, tasks)

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


class ProcessExecutor:
    """A local pool of ``workers`` processes (``processes.process_pool``: never more than the
    cores, and its workers end with the block if it ends by an exception); every task is
    submitted at once."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.stack = ExitStack()
        self.pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> Iterator[ResultT]:
        """Submit every task now; yield the results in task order as they are ready."""
        if self.pool is None:
            raise RuntimeError("a ProcessExecutor maps inside its with block only")
        futures = [self.pool.submit(fn, task) for task in tasks]
        return (future.result() for future in futures)

    def __enter__(self) -> ProcessExecutor:
        self.pool = self.stack.enter_context(process_pool(self.workers))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.pool = None
        self.stack.__exit__(kind, error, trace)


BACKENDS: dict[str, Callable[[int], Executor]] = {"process": ProcessExecutor}
"""Executors that spread work over ``workers``, by name (``open_executor``'s ``backend``)."""


def open_executor(workers: int, tasks: int, backend: str = "process") -> Executor:
    """The executor for ``tasks`` tasks on ``workers`` workers (see the module docstring).

    The cluster's executor inside ``use_cluster``; else inline for one worker or one task, and
    otherwise ``BACKENDS[backend]`` with at most one worker per task. Raises ValueError for an
    unknown backend.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}'; available: {', '.join(BACKENDS)}")
    cluster = current_executor()
    if cluster is not None:
        return cluster
    if workers <= 1 or tasks <= 1:
        return InlineExecutor()
    return BACKENDS[backend](min(workers, tasks))


def width(workers: int) -> int:
    """How many workers a run spreads over: the cluster's inside ``use_cluster``, else
    ``workers``."""
    cluster = current_executor()
    return workers if cluster is None else cluster.workers

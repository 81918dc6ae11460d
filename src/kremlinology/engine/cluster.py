"""A Dask cluster as an executor: blocks of timelines become Dask tasks, merged in task order.

``use_cluster(spec)`` connects to a ``dask.distributed`` scheduler (``spec`` is its address, e.g.
``tcp://10.0.0.5:8786``) or starts a LocalCluster of N single-threaded worker processes
(``spec`` ``local:N``); inside the block every run of the package maps its blocks over the
cluster's workers (``engine.parallel.open_executor`` asks :func:`current_executor`). Results are
those of a single-process run, byte for byte: each draw depends only on (seed, timeline, month,
event, slot), and :class:`DaskExecutor` yields results in task order whatever order they finish
in. A block is thousands of timelines (tens of milliseconds of work or more), far above a Dask
task's overhead of about a millisecond; runs cut themselves into at least two blocks per worker.

If the caller stops (Ctrl-C), the tasks not yet finished are cancelled on the cluster. Importing
this module imports no Dask; see ``docs/scale.md`` for running on real machines.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from multiprocessing import resource_tracker
from types import TracebackType
from typing import Any, TypeVar

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")
_CLIENT: ContextVar[Any] = ContextVar("kremlinology_cluster", default=None)
LOCAL = "local:"
MAX_LOCAL_WORKERS = 64
CONNECT_TIMEOUT_S = 5
"""How long to try to reach a scheduler at an address before giving up. Dask's default (30 s,
retrying) made a mistyped address or a stopped scheduler look like a hang; a scheduler that
is up answers within milliseconds on a LAN, and within a second or two across the world."""
LOCAL_CONNECT_TIMEOUT_S = 20
"""How long the client may take to reach a local cluster it has just started (a loaded machine
is slow to schedule the new processes, and the cluster is known to be there)."""
WORKER_PRELOAD = "kremlinology.engine.cluster_worker"
"""Run by a local cluster's workers as they start: they ignore Ctrl-C (see that module)."""
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""Dask settings of a local cluster's scheduler, nannies and workers. Dask's profiler samples a
running task's stack every 10 ms, which cost the NumPy kernel's long Python loop about a tenth of
its CPU time here; and its event-loop tick (20 ms), system monitor (0.5 s) and memory monitor
(0.1 s) cost an idle worker 1.9% of a core and the caller 3.5% (0.3% and 0.55% at these
intervals), CPU taken from the workers on a machine whose cores they fill. docs/scale.md says how
to set the same on a real cluster's workers."""


class ClusterError(ValueError):
    """The cluster cannot be started or reached (a bad ``--cluster`` value, a dead scheduler)."""


class DaskExecutor:
    """Maps tasks over a Dask client's workers; results come back in task order."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def workers(self) -> int:
        """How many workers the cluster has now (at least 1)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> Iterator[ResultT]:
        """Submit every task now; yield the results in task order as they are ready.

        What every task holds alike (:func:`shared_fields`: the scenario, the plan) is sent to
        the cluster once, not with each task; each worker fetches it once.
        """
        listed = list(tasks)
        shared = shared_fields(listed)
        with warnings.catch_warnings():
            # blocks carry their own arrays (a twin block its history's misses) by design
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            if not shared:
                return self._results(self.client.map(fn, listed, pure=False), [])
            [common] = self.client.scatter([shared], hash=False)
            light = [dataclasses.replace(t, **dict.fromkeys(shared)) for t in listed]  # type: ignore[type-var]
            count = len(light)
            futures = self.client.map(
                _with_shared, [fn] * count, light, [common] * count, pure=False
            )
        return self._results(futures, [common])

    def _results(self, futures: list[Any], shared: list[Any]) -> Iterator[Any]:
        try:
            for i, future in enumerate(futures):
                yield future.result()
                futures[i] = None  # let the cluster forget a result once it is here
        finally:  # stopped early (Ctrl-C, an error, a closed generator): drop the rest
            pending = [f for f in futures if f is not None and not f.done()]
            if pending or shared:
                self.client.cancel(pending + shared)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


SHARED_MIN_TASKS = 2
"""Below this many tasks nothing is worth sending apart."""


def shared_fields(tasks: Sequence[Any]) -> dict[str, Any]:
    """The fields that every task (a dataclass instance) holds as one same object, by name,
    except plain numbers and strings; empty when the tasks are not dataclasses of one type or
    are fewer than SHARED_MIN_TASKS."""
    if len(tasks) < SHARED_MIN_TASKS:
        return {}
    first = tasks[0]
    if not dataclasses.is_dataclass(first) or isinstance(first, type):
        return {}
    if any(type(t) is not type(first) for t in tasks):
        return {}
    found = {}
    for name in (f.name for f in dataclasses.fields(first)):
        value = getattr(first, name)
        if isinstance(value, int | float | str | bool) or value is None:
            continue
        if all(getattr(t, name) is value for t in tasks):
            found[name] = value
    return found


def _without(task: Any, shared: dict[str, Any]) -> Any:
    """The task with its shared fields emptied (they travel apart)."""
    return dataclasses.replace(task, **dict.fromkeys(shared))


def _with_shared(fn: Callable[[Any], Any], task: Any, shared: dict[str, Any]) -> Any:
    """On a worker: the task with its shared fields put back, given to ``fn``."""
    return fn(dataclasses.replace(task, **shared))


def current_executor() -> DaskExecutor | None:
    """The executor of the cluster opened by :func:`use_cluster` around this call, if any."""
    client = _CLIENT.get()
    return None if client is None else DaskExecutor(client)


def parse_spec(spec: str) -> tuple[str, int]:
    """``("local", N)`` for ``local:N``, else ``("address", 0)``; raises ClusterError."""
    text = spec.strip()
    if text.startswith(LOCAL):
        count = text[len(LOCAL) :]
        if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_WORKERS:
            raise ClusterError(
                f"--cluster local:N needs N from 1 to {MAX_LOCAL_WORKERS}, not '{count}'"
            )
        return "local", int(count)
    if not text or any(c.isspace() for c in text):
        raise ClusterError(f"--cluster needs a scheduler address or local:N, not '{spec}'")
    return "address", 0


@contextmanager
def use_cluster(spec: str | None) -> Iterator[DaskExecutor | None]:
    """Within the block, runs go to the cluster ``spec`` (None: no cluster, nothing changes).

    Raises ClusterError when the scheduler cannot be reached or the spec is malformed. A local
    cluster is shut down when the block ends (however it ends: Ctrl-C included); a remote one is
    only disconnected from.
    """
    if spec is None:
        yield None
        return
    kind, count = parse_spec(spec)
    opened: list[Any] = []  # a local cluster, then the client: closed in reverse order
    try:
        client = _connect(spec, kind, count, opened)
        token = _CLIENT.set(client)
        try:
            yield DaskExecutor(client)
        finally:
            _CLIENT.reset(token)
    finally:
        # a Ctrl-C pressed while they close waits for the end: an interrupted close left a
        # local cluster to Dask's exit hook, which took 10 s more to stop it
        with _ctrl_c_held():
            for thing in reversed(opened):
                thing.close()


def _connect(spec: str, kind: str, count: int, opened: list[Any]) -> Any:
    """A client of the cluster ``spec`` (starting it if local); what it opens goes on
    ``opened`` as soon as it exists, for the caller to close."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as error:  # pragma: no cover - distributed is a dependency
        raise ClusterError("--cluster needs dask.distributed (pip install distributed)") from error
    try:
        if kind != "local":  # a Ctrl-C may interrupt this wait (at most CONNECT_TIMEOUT_S)
            opened.append(Client(spec, timeout=CONNECT_TIMEOUT_S))
            return opened[-1]
        # started now, before the mask below, so that it is not started under it (_ctrl_c_held)
        resource_tracker.ensure_running()
        with _ctrl_c_held():
            with dask.config.set(LOCAL_WORKER_CONFIG):
                opened.append(
                    LocalCluster(
                        n_workers=count,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        # its HTTP server (there even without a dashboard) on a free port
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        # its workers and scheduler say nothing on stderr (a task's error
                        # reaches the caller as an exception; a Ctrl-C's tear-down is noisy)
                        silence_logs=logging.CRITICAL,
                        preload=[WORKER_PRELOAD],
                    )
                )
            # the client's connection too: a Ctrl-C meanwhile is raised once the client is on
            # ``opened``, so the caller closes it with the cluster
            opened.append(Client(opened[-1], timeout=LOCAL_CONNECT_TIMEOUT_S))
    except (OSError, TimeoutError) as error:
        # one line naming the address (Dask's message says how long it tried), no traceback
        raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {error}") from None
    except ValueError as error:
        if kind == "local":
            raise
        # Dask's word on an address it cannot parse ("missing port number", "unknown address
        # scheme"), said of the option it came from
        raise ClusterError(f"--cluster '{spec}' is not a scheduler address: {error}") from None
    return opened[-1]


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Processes started inside are born deaf to Ctrl-C (SIGINT blocked), and a Ctrl-C that
    comes meanwhile is held and raised as KeyboardInterrupt when the block ends.

    A terminal sends Ctrl-C to the whole process group, a local cluster's workers included;
    this process stops them itself, so they print no tracebacks. Threads started inside (Dask's
    event loop, which starts the workers) inherit the blocked signal, and so do the processes
    they start; this process still hears a Ctrl-C through its other threads (a C library's
    threads) or when the block ends. Main thread only (elsewhere, nothing changes).

    One thing undoes the mask: multiprocessing's resource tracker, started with the first
    process, leaves SIGINT unblocked in the thread that started it (bpo-33613: blocked around
    the start, then unblocked, whatever it was before). Started inside by Dask's event loop,
    which then starts the workers, it had them born hearing Ctrl-C: one pressed while they
    started killed them ("Nanny failed to start", a traceback, a worker left behind). So start
    it before the block (``resource_tracker.ensure_running()``) when processes start inside."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    heard: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: heard.append(number))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, previous)
    if heard:
        raise KeyboardInterrupt

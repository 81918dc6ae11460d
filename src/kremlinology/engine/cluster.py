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

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")
_CLIENT: ContextVar[Any] = ContextVar("kremlinology_cluster", default=None)
LOCAL = "local:"
MAX_LOCAL_WORKERS = 64
CONNECT_TIMEOUT_S = 20


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
        """Submit every task now; yield the results in task order as they are ready."""
        futures = self.client.map(fn, list(tasks), pure=False)
        return self._results(futures)

    def _results(self, futures: list[Any]) -> Iterator[Any]:
        try:
            for future in futures:
                yield future.result()
        finally:  # stopped early (Ctrl-C, an error, a closed generator): drop the rest
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


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
    cluster is shut down when the block ends; a remote one is only disconnected from.
    """
    if spec is None:
        yield None
        return
    kind, count = parse_spec(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:  # pragma: no cover - distributed is a dependency
        raise ClusterError("--cluster needs dask.distributed (pip install distributed)") from error
    cluster = None
    try:
        if kind == "local":
            cluster = LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        else:
            client = Client(spec, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {error}") from None
    token = _CLIENT.set(client)
    try:
        yield DaskExecutor(client)
    finally:
        _CLIENT.reset(token)
        client.close()
        if cluster is not None:
            cluster.close()

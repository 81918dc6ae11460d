"""The set-up of a local cluster's worker processes (a Dask preload, named in
``engine.cluster.WORKER_PRELOAD``).

A terminal sends Ctrl-C (SIGINT) to its whole process group, and a local cluster's workers are
in the caller's group; the caller stops them itself when it hears Ctrl-C, so the workers ignore
the signal rather than die printing tracebacks. A real cluster's workers may use it too
(``dask worker --preload kremlinology.engine.cluster_worker``) when they run in a terminal.
Importing this module imports the engine, so a worker pays for that as it starts, not in its
first task.
"""

from __future__ import annotations

import signal
import threading

import kremlinology.engine.simulate  # noqa: F401  (the engine, loaded as the worker starts)


def dask_setup(worker: object) -> None:
    """Called by Dask in a worker process as it starts: ignore SIGINT (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

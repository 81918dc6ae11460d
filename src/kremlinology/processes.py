"""Worker processes that end with their command, and SIGTERM handled like Ctrl-C.

:func:`process_pool` is the one way the package starts worker processes. Its workers ignore
Ctrl-C (the terminal sends it to the whole process group; the parent decides what happens) and,
on Linux, are killed by the kernel if the parent dies, even by SIGKILL. When the block inside
``with process_pool(...)`` ends by an exception (Ctrl-C, SIGTERM, an error), the queued tasks are
cancelled and the workers are terminated at once, then killed if they linger, so an interrupted
command is gone within a second instead of finishing its chunks first.

:func:`stop_on_sigterm` makes SIGTERM raise :class:`Terminated`, a SystemExit (code 143) that
no ``except Exception`` swallows, so ``finally`` blocks and ``except BaseException`` clean-ups
(staging folders, worker processes) run for ``kill`` exactly as for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from types import FrameType
from typing import Any

from kremlinology.limits import MAX_WORKERS, cores

KILL_AFTER_S = 0.5
"""How long terminated workers get to exit before they are killed."""


class Terminated(SystemExit):
    """The process was asked to stop by SIGTERM; it exits with code 143 (128 + 15)."""

    CODE = 128 + int(signal.SIGTERM)

    def __init__(self) -> None:
        super().__init__(self.CODE)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def stop_on_sigterm() -> None:
    """Make SIGTERM raise Terminated in the main thread (call it from the main thread)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def _worker_start(parent: int) -> None:
    """Set up a worker: Ctrl-C is the parent's to handle; die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of ``workers`` processes, but never more than the cores or
    limits.MAX_WORKERS, whose workers end with the block if it ends by an exception (see the
    module docstring). Requests are checked where they come in (limits.check_workers)."""
    count = max(1, min(workers, MAX_WORKERS, cores()))
    pool = ProcessPoolExecutor(
        max_workers=count, initializer=_worker_start, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)


def stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end every worker now: terminate, then kill the stragglers."""
    processes: list[Any] = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + KILL_AFTER_S
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(KILL_AFTER_S)
    # A worker killed while it sent a result leaves half a message in the result pipe, and the
    # pool's thread would wait for the rest for ever (and the process with it, at exit). The
    # workers are gone: closing this process's own copy of the pipe's write end ends that wait.
    writer = getattr(results, "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()

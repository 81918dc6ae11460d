"""The job queue: round robin between clients, one job per key, failures stay contained."""

from __future__ import annotations

import threading
import time

import pytest

from kremlinology.scenario.errors import KremlinologyError
from kremlinology.web.jobs import DONE, FAILED, Job, JobQueue, QueueFull


def test_clients_take_turns() -> None:
    queue = JobQueue(workers=1, max_pending=50)
    gate = threading.Event()
    order: list[str] = []

    def blocker(job: Job) -> None:
        gate.wait(10)

    def work(name: str):  # type: ignore[no-untyped-def]
        def run(job: Job) -> str:
            order.append(name)
            return name

        return run

    first = queue.submit("block", "test", blocker, client="a")
    while first.state != "running":
        time.sleep(0.01)
    jobs = [queue.submit(f"a{i}", "test", work(f"a{i}"), client="a") for i in range(4)]
    late = queue.submit("b0", "test", work("b0"), client="b")
    assert queue.position(jobs[0]) == 0 and queue.position(late) == 1
    assert queue.position(jobs[3]) == 4
    gate.set()
    for job in [first, *jobs, late]:
        job.future.result(10)
    assert order == ["a0", "b0", "a1", "a2", "a3"]  # b is not kept waiting behind all of a's
    queue.close()


def test_same_key_is_one_job_and_progress_is_reported() -> None:
    queue = JobQueue(workers=1)
    gate = threading.Event()
    runs = []

    def work(job: Job) -> int:
        job.set_stage("simulating", 0.1, 0.9, estimate_s=100.0)
        runs.append(1)
        gate.wait(10)
        job.report(1, 2)  # measured progress replaces the estimate
        assert job.progress == 0.5 and job.estimated
        return 42

    job = queue.submit("k", "test", work)
    assert queue.submit("k", "test", work) is job
    deadline = time.monotonic() + 5
    while job.stage != "simulating" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state == "running" and 0.1 <= job.progress < 0.9
    gate.set()
    assert job.future.result(5) == 42
    assert job.state == DONE and job.progress == 1.0 and runs == [1]
    again = queue.submit("k", "test", work)  # a finished job is not joined: it runs anew
    assert again is not job
    assert again.future.result(5) == 42
    queue.close()


def test_a_failing_job_does_not_take_others_down() -> None:
    queue = JobQueue(workers=2)

    def crash(job: Job) -> None:
        raise RuntimeError("injected")

    def bad_input(job: Job) -> None:
        raise KremlinologyError("unknown event 'x'")

    def fine(job: Job) -> str:
        time.sleep(0.05)
        return "ok"

    jobs = [queue.submit(f"k{i}", "t", [crash, fine, bad_input][i % 3]) for i in range(9)]
    for job in jobs:
        job.future.exception(10)
    assert [j.state for j in jobs] == [FAILED, DONE, FAILED] * 3
    assert jobs[0].error_kind == "internal" and "injected" in (jobs[0].error or "")
    assert jobs[2].error_kind == "input" and jobs[2].error == "unknown event 'x'"
    assert queue.submit("after", "t", fine).future.result(5) == "ok"  # the workers live on
    queue.close()


def test_a_full_queue_refuses_and_close_fails_waiting_jobs() -> None:
    queue = JobQueue(workers=1, max_pending=2)
    gate = threading.Event()
    running = queue.submit("run", "t", lambda job: gate.wait(10))
    while running.state != "running":
        time.sleep(0.01)
    waiting = [queue.submit(f"w{i}", "t", lambda job: None) for i in range(2)]
    with pytest.raises(QueueFull, match="busy"):
        queue.submit("one too many", "t", lambda job: None)
    gate.set()
    queue.close()
    assert running.state == DONE
    for job in waiting:
        assert job.state in (DONE, FAILED)


def test_small_jobs_never_wait_behind_big_ones() -> None:
    queue = JobQueue(workers=2, max_pending=50)
    gate = threading.Event()
    started: list[str] = []

    def big(job: Job) -> None:
        started.append(job.key)
        gate.wait(10)

    def small(job: Job) -> str:
        started.append(job.key)
        return job.key

    bigs = [queue.submit(f"big{i}", "t", big, client="a", runs=50_000) for i in range(3)]
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert started == ["big0"]  # a second big job would take the last free worker
    smalls = [queue.submit(f"small{i}", "t", small, client="b", runs=300) for i in range(3)]
    assert [s.future.result(5) for s in smalls] == ["small0", "small1", "small2"]
    assert bigs[1].state == "queued" and queue.position(bigs[1]) == 0
    gate.set()
    for job in bigs:
        job.future.result(10)
    assert started[-2:] == ["big1", "big2"]
    queue.close()


def test_a_full_queue_says_when_to_retry() -> None:
    queue = JobQueue(workers=1, max_pending=1)
    gate = threading.Event()
    running = queue.submit("run", "t", lambda job: gate.wait(10))
    while running.state != "running":
        time.sleep(0.01)
    queue.submit("wait", "t", lambda job: None)
    with pytest.raises(QueueFull) as info:
        queue.submit("more", "t", lambda job: None)
    assert 1 <= info.value.retry_after_s <= 600
    gate.set()
    queue.close()


def test_close_cancels_running_jobs_at_their_next_report() -> None:
    queue = JobQueue(workers=1)
    reports = []

    def endless(job: Job) -> None:
        while True:  # a computation that reports progress, as the engine does per chunk
            job.report(len(reports), 10**9)
            reports.append(1)
            time.sleep(0.01)

    job = queue.submit("endless", "t", endless)
    while job.state != "running" or not reports:
        time.sleep(0.01)
    began = time.monotonic()
    queue.close()
    assert time.monotonic() - began < 2.0
    assert job.state == FAILED and "shutting down" in (job.error or "")


def test_background_work_waits_until_nothing_else_does() -> None:
    """A background job starts only when no job waits and a worker stays free for small
    ones; asked for in the foreground while it waits, it moves ahead of the background."""
    queue = JobQueue(workers=2, max_pending=50)
    gate = threading.Event()
    started: list[str] = []

    def hold(job: Job) -> None:
        started.append(job.key)
        gate.wait(10)

    def quick(job: Job) -> str:
        started.append(job.key)
        return job.key

    big = queue.submit("big", "t", hold, client="a", runs=50_000)
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    later = queue.submit("report-1", "t", quick, client="a", runs=300, background=True)
    promoted = queue.submit("report-2", "t", quick, client="a", runs=300, background=True)
    assert queue.pending() == 0  # background work is not counted as waiting
    smalls = [queue.submit(f"small{i}", "t", quick, client="b", runs=300) for i in range(2)]
    assert [s.future.result(5) for s in smalls] == ["small0", "small1"]
    time.sleep(0.1)
    # the big job holds the one worker that may do non-small work: the reports wait
    assert later.state == "queued" and promoted.state == "queued"
    assert queue.submit("report-2", "t", quick, client="c", runs=300) is promoted
    assert promoted.future.result(5) == "report-2"  # now small work, on the free worker
    assert later.state == "queued"
    gate.set()
    assert big.future.result(10) is None and later.future.result(10) == "report-1"
    assert started == ["big", "small0", "small1", "report-2", "report-1"]
    queue.close()


def test_background_work_is_bounded_too() -> None:
    queue = JobQueue(workers=1, max_pending=2)
    gate = threading.Event()
    first = queue.submit("hold", "t", lambda job: gate.wait(10), runs=1)
    while first.state != "running":
        time.sleep(0.01)
    for i in range(2):
        queue.submit(f"bg{i}", "t", lambda job: None, background=True)
    with pytest.raises(QueueFull):
        queue.submit("bg2", "t", lambda job: None, background=True)
    queue.submit("fg", "t", lambda job: None)  # foreground work still has its places
    gate.set()
    queue.close()

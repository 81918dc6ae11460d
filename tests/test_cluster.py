"""Runs on a real Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes on loopback)
print the same JSON as on one machine, elapsed times aside."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import REPO, TESTBED
from kremlinology.cli import build_app
from kremlinology.engine.cluster import (
    CONNECT_TIMEOUT_S,
    ClusterError,
    DaskExecutor,
    parse_spec,
    use_cluster,
)
from test_cancellation import STOP_S, children, start, stop_and_time, wait_for

distributed = pytest.importorskip("distributed")
DASK = Path(sys.executable).parent / "dask"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded workers (real processes)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO / 'tests'}",
        "KREMLINOLOGY_ENGINE": "numpy",
    }
    logs = tmp_path_factory.mktemp("dask")
    common = {"env": env, "stdout": subprocess.DEVNULL, "cwd": logs}
    processes = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stderr=(logs / "scheduler.log").open("w"),
            **common,  # type: ignore[arg-type]
        )
    ]
    try:
        client = distributed.Client(address, timeout=60)
        for i in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--memory-limit",
                        "0",
                        "--name",
                        f"w{i}",
                    ],
                    stderr=(logs / f"worker{i}.log").open("w"),
                    **common,  # type: ignore[arg-type]
                )
            )
        client.wait_for_workers(2, timeout=90)
        client.close()
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _json(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _without_times(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "elapsed_s"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_run_and_whatif_on_the_cluster_equal_one_machine(scheduler: str) -> None:
    run = ["run", "--scenario", "testbed", "--runs", "3000", "--seed", "4", "--json",
           "--engine", "numpy"]  # fmt: skip
    local = _json(run)
    remote = _json([*run, "--cluster", scheduler])
    assert json.dumps(_without_times(local)) == json.dumps(_without_times(remote))
    history = ["history", "--scenario", "testbed", "--runs", "1500", "--json", "--engine", "numpy"]
    local = _json(history)
    remote = _json([*history, "--cluster", scheduler])
    assert json.dumps(_without_times(local)) == json.dumps(_without_times(remote))
    whatif = ["whatif", "no_plot", "--scenario", "testbed", "--runs", "2000", "--json",
              "--engine", "numpy", "--no-drivers"]  # fmt: skip
    local = _json(whatif)
    remote = _json([*whatif, "--cluster", scheduler])
    assert json.dumps(_without_times(local)) == json.dumps(_without_times(remote))


@pytest.mark.parametrize(
    "args",
    [
        ["claim", "plot", "rebel_crushed", "--runs", "800"],
        ["why", "no_plot", "king_rules", "--runs", "300"],
        ["whatif", "no_plot", "--runs", "600"],  # with its drivers (found by intervention)
        ["calibrate", "--runs", "1200", "--accept", "0.1", "--no-write", "--replicates", "10"],
        ["chronicle", "no_plot", "--runs", "400"],
        ["audit", "no_plot", "--runs", "700"],  # its blocks' firing logs merged
        ["audit", "--baseline", "--runs", "500"],
    ],
    ids=["claim", "why", "whatif-drivers", "calibrate", "chronicle", "audit", "audit-baseline"],
)
def test_every_simulating_command_on_the_cluster_equals_one_machine(
    scheduler: str, args: list[str]
) -> None:
    """The same JSON, elapsed times aside, on one machine and on the two workers."""
    common = [*args, "--scenario", "testbed", "--seed", "4", "--json", "--engine", "numpy"]
    local = _json(common)
    tasks = _tasks_done(scheduler)
    remote = _json([*common, "--cluster", scheduler])
    assert json.dumps(_without_times(local)) == json.dumps(_without_times(remote))
    assert _tasks_done(scheduler) > tasks  # the work was done on the cluster


def _tasks_done(address: str) -> int:
    """How many tasks the cluster's workers have run so far."""
    with distributed.Client(address, timeout=30) as client:
        counts = client.run(_executed)
    return sum(counts.values())


def _executed(dask_worker: Any) -> int:
    return int(dask_worker.state.executed_count)


def test_the_cluster_does_the_work_in_order(scheduler: str) -> None:
    with use_cluster(scheduler) as executor:
        assert isinstance(executor, DaskExecutor) and executor.workers == 2
        results = list(executor.map(_slow_identity, list(range(12))))
        assert results == list(range(12))
        hosts = {pid for _, pid in executor.map(_where, list(range(8)))}
    assert len(hosts) == 2 and os.getpid() not in hosts  # both workers, never this process


def _slow_identity(x: int) -> int:
    time.sleep(0.01 * (12 - x))  # later tasks finish first
    return x


def _where(x: int) -> tuple[int, int]:
    time.sleep(0.2)
    return x, os.getpid()


def test_bad_cluster_values_are_clear_errors() -> None:
    with pytest.raises(ClusterError, match="local:N needs N"):
        parse_spec("local:0")
    with pytest.raises(ClusterError, match="scheduler address"):
        parse_spec("two words")
    result = CliRunner().invoke(
        build_app(), ["run", "--scenario", "testbed", "--runs", "10", "--cluster", "local:x"]
    )
    assert result.exit_code == 2 and "local:N needs N" in result.output


DEAD = "tcp://127.0.0.1:1"
"""An address where no scheduler listens (port 1 is never a Dask scheduler's)."""
GIVE_UP_S = 15.0
"""What the test allows for the command to give up: CONNECT_TIMEOUT_S (5 s) and the start-up of
a busy machine, well short of Dask's own default (30 s) or the 20 s this waited before."""


def _cli(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the command line in a fresh process; its result and how long it took."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KREMLINOLOGY_NO_CACHE": "1"}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kremlinology", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return done, time.monotonic() - began


def test_an_address_where_no_scheduler_listens_fails_fast_and_clearly() -> None:
    """``--cluster`` at a dead address: within seconds, exit code 2 and one line naming the
    address (under ``--json`` the error object), not Dask's 30 s wait or a traceback."""
    done, seconds = _cli(["run", "--scenario", "testbed", "--runs", "100", "--cluster", DEAD])
    assert done.returncode == 2, done.stderr
    assert seconds < GIVE_UP_S, f"gave up after {seconds:.1f} s"
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the Dask scheduler at {DEAD}: ")
    assert line.endswith(f"after {CONNECT_TIMEOUT_S} s")  # Dask's words: it tried that long
    args = ["whatif", "no_plot", "--scenario", "testbed", "--runs", "100", "--json"]
    done, seconds = _cli([*args, "--cluster", DEAD])
    assert done.returncode == 2, done.stderr
    assert seconds < GIVE_UP_S, f"gave up after {seconds:.1f} s"
    assert "Traceback" not in done.stderr
    found = json.loads(done.stdout)
    assert found["error"].startswith(f"cannot reach the Dask scheduler at {DEAD}: ")
    assert found["position"] is None and found["problems"] == []


def test_an_address_dask_cannot_parse_is_a_clear_error() -> None:
    for address, says in (("nonsense", "missing port"), ("bogus://x:1", "unknown address scheme")):
        result = CliRunner().invoke(
            build_app(), ["run", "--scenario", "testbed", "--runs", "10", "--cluster", address]
        )
        assert result.exit_code == 2, result.output
        assert f"--cluster '{address}' is not a scheduler address" in result.output
        assert says in result.output


CLUSTER_RUNS = "5000000"
"""Hundreds of blocks: minutes of work for the two workers."""


@pytest.mark.parametrize(
    "command",
    [["whatif", "no_plot"], ["run", "--timelines-out", "{out}"]],
    ids=["whatif", "run"],
)
def test_ctrl_c_stops_a_cluster_run_and_its_tasks(
    scheduler: str, tmp_path: Path, command: list[str]
) -> None:
    """Ctrl-C in the middle of a run on the cluster: the command ends within STOP_S with the
    usual 'interrupted' and exit code 130, no traceback or warning, nothing written, and the
    cluster forgets the run's tasks."""
    out = tmp_path / "timelines.parquet"
    args = [a.format(out=out) for a in command]
    args += ["--scenario", str(TESTBED), "--runs", CLUSTER_RUNS, "--i-know", "--engine", "numpy"]
    with distributed.Client(scheduler, timeout=30) as watcher:
        process = start([*args, "--cluster", scheduler])
        wait_for(lambda: process.poll() is not None or any(watcher.processing().values()))
        assert process.poll() is None, process.communicate()
        time.sleep(0.5)  # both workers are computing blocks
        seconds = stop_and_time(process, signal.SIGINT, group=True)
        _, err = process.communicate()
        assert process.returncode == 130
        assert err.strip() == "interrupted"  # no traceback, no warning of Dask's
        assert seconds < STOP_S, f"stopped after {seconds:.2f} s"
        wait_for(lambda: watcher.run_on_scheduler(_task_count) == 0, 10)
    assert list(tmp_path.iterdir()) == []  # no table, whole or half


def test_ctrl_c_stops_a_local_cluster_with_its_workers() -> None:
    """Ctrl-C reaches the whole process group, the local cluster's workers too: they end with
    the command, which says only 'interrupted' (exit code 130)."""
    args = ["run", "--scenario", str(TESTBED), "--runs", CLUSTER_RUNS, "--i-know"]
    process = start([*args, "--engine", "numpy", "--cluster", "local:2"])
    # both workers have started and are computing: each has used seconds of CPU
    wait_for(lambda: sum(_cpu_s(c) > 3 for c in children(process.pid)) >= 2)
    seconds = stop_and_time(process, signal.SIGINT, group=True)  # and the workers are gone
    _, err = process.communicate()
    assert process.returncode == 130 and err.strip() == "interrupted"
    assert seconds < STOP_S, f"stopped after {seconds:.2f} s"


def test_ctrl_c_while_a_local_cluster_starts_stops_it_cleanly() -> None:
    """Ctrl-C while ``local:2`` starts its workers (they are still importing): exit code 130
    with only 'interrupted', and every process of the command's group gone soon after (the
    workers were born deaf to it and are stopped by the command, not killed half-started)."""
    args = ["run", "--scenario", str(TESTBED), "--runs", CLUSTER_RUNS, "--i-know"]
    process = start([*args, "--engine", "numpy", "--cluster", "local:2"])
    wait_for(lambda: process.poll() is not None or bool(_spawned(process.pid)), 60)
    assert process.poll() is None, process.communicate()
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does for Ctrl-C
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip() == "interrupted"  # no traceback ("Nanny failed to start"), no warning
    wait_for(lambda: _live_in_group(process.pid) == [], STOP_S)


def _spawned(pid: int) -> list[int]:
    """The worker processes (multiprocessing's spawn) that ``pid`` has started so far."""
    found = []
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if b"spawn_main" in handle.read():
                    found.append(child)
        except OSError:
            continue
    return found


def _live_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that are alive (a zombie is not)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def test_a_ctrl_c_while_a_local_cluster_closes_lets_the_close_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that comes as the local cluster closes is raised once it has closed: cut short,
    the close was left to Dask's exit hook, which held the command 10 s more."""
    from distributed.core import Status

    original = distributed.LocalCluster.close
    statuses: list[object] = []

    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the close begins
        done = original(self, *args, **kwargs)
        statuses.append(self.status)
        return done

    monkeypatch.setattr(distributed.LocalCluster, "close", close)
    with pytest.raises(KeyboardInterrupt), use_cluster("local:1") as executor:
        assert executor is not None and list(executor.map(abs, [-1, -2])) == [1, 2]
    assert statuses == [Status.closed]


def _cpu_s(pid: int) -> float:
    """CPU seconds a process has used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _task_count(dask_scheduler: Any) -> int:
    return len(dask_scheduler.tasks)


def test_progress_advances_per_block_on_the_cluster(scheduler: str) -> None:
    """A run on the cluster reports its progress once per block, in timeline order."""
    import kremlinology as k

    heard: list[tuple[int, int]] = []
    with use_cluster(scheduler):
        k.simulate(
            "testbed", runs=3000, seed=4, chunk_size=500, progress=lambda d, t: heard.append((d, t))
        )
    assert heard == [(500 * (i + 1), 3000) for i in range(6)]  # 6 blocks of 500 on 2 workers


def test_the_web_explorer_computes_on_the_cluster(scheduler: str, tmp_path: Path) -> None:
    """``serve --cluster``: the job queue's threads compute on the cluster it was opened in, and
    the stored answer is the one computed on one machine."""
    from kremlinology.web.service import Explorer, Settings

    def answer(store: str) -> dict[str, Any]:
        settings = Settings(scenario=str(TESTBED), store_path=tmp_path / store, max_runs=5000)
        explorer = Explorer(settings)
        try:
            request = explorer.whatif_request(None, "no_plot", 800, 4)
            found: dict[str, Any] = explorer.submit(request).future.result(120)
        finally:
            explorer.close()
        return found

    local = answer("local.sqlite3")
    before = _tasks_done(scheduler)
    with use_cluster(scheduler):
        remote = answer("remote.sqlite3")
    assert _tasks_done(scheduler) > before
    assert json.dumps(_without_times(remote["result"])) == json.dumps(
        _without_times(local["result"])
    )
    bad = CliRunner().invoke(build_app(), ["serve", "--cluster", "local:0"])
    assert bad.exit_code == 2 and "local:N needs N" in bad.output

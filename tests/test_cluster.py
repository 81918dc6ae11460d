"""Runs on a real Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes on loopback)
print the same JSON as on one machine, elapsed times aside."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from kremlinology.cli import build_app
from kremlinology.engine.cluster import ClusterError, DaskExecutor, parse_spec, use_cluster

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

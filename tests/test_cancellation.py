"""Ctrl-C, SIGTERM and SIGKILL (issue 12): commands stop within 2 s, end their worker processes,
and leave no staging folder; an interrupted report leaves the old report or the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, TESTBED
from kremlinology.narrate.report import clean_stale, write_report
from kremlinology.processes import Terminated

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
STOP_S = 5.0
"""What the tests allow on a busy machine; idle, each case stops in about one second (the
figures of docs/limits.md), against the 2 s the issue asks for."""
HUGE = "100000000"  # a what-if that would run for hours


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(name))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def start(args: list[str], code: str | None = None) -> subprocess.Popen[str]:
    """Start the CLI (or ``code`` before it) in its own session, with Ctrl-C not ignored."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KREMLINOLOGY_NO_CACHE": "1"}
    prefix = ["-c", code, *args] if code else ["-m", "kremlinology", *args]
    return subprocess.Popen(
        [sys.executable, *prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(test: object, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not test():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the command did not get going"
        time.sleep(0.05)


def stop_and_time(process: subprocess.Popen[str], how: signal.Signals, group: bool) -> float:
    """Send ``how``; return the seconds until the process and all its workers are gone."""
    workers = children(process.pid)
    began = time.monotonic()
    if group:
        os.killpg(process.pid, how)  # what the terminal does for Ctrl-C
    else:
        os.kill(process.pid, how)
    try:
        process.wait(10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    while any(alive(w) for w in workers) and time.monotonic() - began < 10:
        time.sleep(0.02)
    assert not [w for w in workers if alive(w)], "worker processes outlived the command"
    return time.monotonic() - began


@pytest.mark.parametrize(
    ("how", "group", "code", "said"),
    [
        (signal.SIGINT, True, 130, "interrupted"),
        (signal.SIGTERM, False, 143, "terminated"),
        (signal.SIGKILL, False, -9, ""),
    ],
)
def test_a_multi_worker_whatif_stops_with_its_workers(
    how: signal.Signals, group: bool, code: int, said: str
) -> None:
    process = start(["whatif", "no_plot", "--scenario", str(TESTBED), "--runs", HUGE, "--i-know"])
    wait_for(lambda: len(children(process.pid)) >= 2)  # both workers are computing
    time.sleep(0.5)
    seconds = stop_and_time(process, how, group)
    _, err = process.communicate()
    assert process.returncode == code
    assert err.strip() == said  # no InvalidStateError, no traceback
    assert seconds < STOP_S, f"stopped after {seconds:.2f} s"


def test_a_multi_worker_run_stops_on_sigterm() -> None:
    args = ["run", "--scenario", str(TESTBED), "--runs", HUGE, "--i-know", "--workers", "2"]
    process = start(args)
    wait_for(lambda: len(children(process.pid)) >= 2)
    seconds = stop_and_time(process, signal.SIGTERM, group=False)
    assert process.wait() == 143 and seconds < STOP_S


SLOW_CHARTS = """
import sys, time
from pathlib import Path
import kremlinology.narrate.charts as charts
FLAG = Path(sys.argv[-1])
def slow(result, folder):
    (Path(folder) / "outcomes.png").write_bytes(b"half a chart")
    FLAG.touch()  # the staging folder exists and is half written
    time.sleep(60)
charts.save_charts = slow
sys.argv = ["kremlinology", *sys.argv[1:-1]]
from kremlinology.cli import main
main()
"""


def report_in_flight(tmp_path: Path, how: signal.Signals) -> tuple[Path, int]:
    """Rewrite a report and stop it while its staging folder is half written."""
    target = tmp_path / "r"
    flag = tmp_path / "flag"
    args = ["report", "no_plot", "--scenario", str(TESTBED), "--runs", "300", "--out", str(target)]
    process = start([*args, str(flag)], textwrap.dedent(SLOW_CHARTS))
    wait_for(flag.exists)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    seconds = stop_and_time(process, how, group=False)
    assert seconds < STOP_S
    return target, process.returncode


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the report has a ``posts/`` folder), by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def old_report(tmp_path: Path, riot_result: object) -> dict[str, bytes]:
    target = tmp_path / "r"
    write_report(riot_result, target)  # type: ignore[arg-type]
    return contents(target)


@pytest.fixture(scope="module")
def riot_result() -> object:
    import kremlinology as k

    return k.whatif("no_plot", str(TESTBED), runs=300, seed=1)


def test_sigterm_during_a_report_leaves_the_old_one_and_nothing_else(
    tmp_path: Path, old_report: dict[str, bytes]
) -> None:
    target, code = report_in_flight(tmp_path, signal.SIGTERM)
    assert code == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flag", "r"]
    assert contents(target) == old_report


def test_sigkill_during_a_report_is_cleaned_by_the_next_one(
    tmp_path: Path, old_report: dict[str, bytes], riot_result: object
) -> None:
    target, code = report_in_flight(tmp_path, signal.SIGKILL)
    assert code == -9
    assert contents(target) == old_report  # still whole
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".r.")]
    assert len(left) == 1 and left[0].name.endswith(".partial")
    write_report(riot_result, target)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flag", "r"]


def test_a_running_writer_s_staging_folder_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / f".r.{os.getppid()}-abcd.partial"  # the parent process runs
    mine.mkdir()
    gone = tmp_path / ".r.999999999-abcd.partial"
    gone.mkdir()
    other = tmp_path / ".other.999999999-abcd.partial"
    other.mkdir()
    assert clean_stale(tmp_path, "r") == [gone]
    assert mine.exists() and other.exists()


def test_terminated_in_the_middle_removes_staging(
    tmp_path: Path, riot_result: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kremlinology.narrate import charts

    def stop(result: object, folder: Path) -> list[str]:
        (folder / "outcomes.png").write_bytes(b"half")
        raise Terminated()

    monkeypatch.setattr(charts, "save_charts", stop)
    with pytest.raises(Terminated):
        write_report(riot_result, tmp_path / "r")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []

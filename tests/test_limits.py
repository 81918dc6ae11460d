"""The bounds of limits.py (issue 12): workers, runs, messages, and the CLI and API using them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import kremlinology as k
from conftest import TESTBED
from kremlinology import limits
from kremlinology.cli import app
from kremlinology.scenario.model import Scenario


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        ("100000", "error: --workers must be between 1 and 64, not 100,000"),
        ("-3", "error: --workers must be between 1 and 64, not -3"),
        ("0", "error: --workers must be between 1 and 64, not 0"),
        ("many", "error: --workers must be a whole number, not 'many'"),
    ],
)
def test_the_cli_refuses_unbounded_workers(workers: str, message: str) -> None:
    code, err = run_cli("run", "--scenario", str(TESTBED), "--runs", "10", "--workers", workers)
    assert code == 2 and err.strip() == message


def test_workers_above_the_cores_get_the_cores(testbed: Scenario) -> None:
    assert limits.check_workers(limits.MAX_WORKERS) == min(limits.MAX_WORKERS, limits.cores())
    assert limits.check_workers(1) == 1
    for bad in (0, -3, limits.MAX_WORKERS + 1, 2.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be"):
            limits.check_workers(bad)
    with pytest.raises(ValueError, match="workers must be between 1 and 64, not 100,000"):
        k.simulate(testbed, runs=10, workers=100_000)
    with pytest.raises(ValueError, match="workers must be between 1 and 64, not -3"):
        k.whatif("no_plot", testbed, runs=10, workers=-3)
    one = k.simulate(testbed, runs=300, seed=2, chunk_size=50, workers=1)
    many = k.simulate(testbed, runs=300, seed=2, chunk_size=50, workers=limits.MAX_WORKERS)
    assert one.to_dict()["outcomes"] == many.to_dict()["outcomes"]


def test_runs_have_a_cli_maximum_with_an_override() -> None:
    over = str(limits.CLI_MAX_RUNS + 1)
    code, err = run_cli("whatif", "no_plot", "--scenario", str(TESTBED), "--runs", over)
    assert code == 2 and "add --i-know to run it anyway" in err
    code, err = run_cli(
        "run", "--scenario", str(TESTBED), "--runs", str(limits.MAX_RUNS + 1), "--i-know"
    )
    assert (
        code == 2
        and err.strip() == "error: --runs must be between 1 and 100,000,000, not 100,000,001"
    )
    code, _ = run_cli("run", "--scenario", str(TESTBED), "--runs", "20", "--i-know")
    assert code == 0
    with pytest.raises(ValueError, match="runs must be between 1 and 100,000,000"):
        limits.check_runs(limits.MAX_RUNS + 1)


def test_messages_and_quoted_values_are_cut() -> None:
    assert limits.shorten("x" * 10) == "x" * 10
    cut = limits.shorten("x" * 10_000)
    assert len(cut) <= limits.MAX_VALUE_CHARS and cut.endswith("more characters)")
    long = limits.message("y" * 1_000_000)
    assert len(long) <= limits.MAX_MESSAGE_CHARS and "more characters" in long


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "infinity"),
        (-float("inf"), "infinity"),
        (10**400, "out of range"),
        (-(10**301), "out of range"),
        (1e301, "out of range"),
    ],
)
def test_number_problems(value: float, problem: str) -> None:
    assert problem in (limits.number_problem(value) or "")


def test_ordinary_numbers_pass() -> None:
    for value in (0, 1, -1.5, 1e300, 10**300, True, "text", None):
        assert limits.number_problem(value) is None


def test_the_block_size_is_bounded(testbed: Scenario) -> None:
    with pytest.raises(ValueError, match="chunk_size must be between 1 and 262,144"):
        k.simulate(testbed, runs=10, chunk_size=10**9)
    with pytest.raises(ValueError, match="chunk_size must be between 1 and 262,144, not 0"):
        k.simulate(testbed, runs=10, chunk_size=0)

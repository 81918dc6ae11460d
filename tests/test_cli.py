"""The command line, run as a real subprocess: JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import TESTBED, write_scenario
from kremlinology.scenario.loader import load_scenario

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
POSITION = re.compile(r"^.+:\d+:\d+: .+$")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kremlinology", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def run_json() -> dict[str, Any]:
    done = cli("run", "--scenario", str(TESTBED), "--runs", "3000", "--seed", "5", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1 and done.stdout.endswith("\n")  # one object, one line
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def test_run_json_has_the_documented_keys(run_json: dict[str, Any]) -> None:
    scenario = load_scenario(TESTBED)
    assert {"scenario", "runs", "seed", "elapsed_s", "outcomes", "events"} <= set(run_json)
    assert run_json["scenario"] == {
        "name": "testbed",
        "version": "1.0.0",
        "sha256": scenario.sha256,
    }
    assert run_json["runs"] == 3000 and run_json["seed"] == 5
    assert isinstance(run_json["elapsed_s"], float) and run_json["elapsed_s"] >= 0
    for row in run_json["outcomes"]:
        assert set(row) == {"id", "label", "p", "ci"}
        low, high = row["ci"]
        assert low <= row["p"] <= high
    for row in run_json["events"]:
        assert set(row) == {"id", "label", "p", "median_month"}
        assert 0.0 <= row["p"] <= 1.0
        assert row["median_month"] is None or MONTH.match(row["median_month"])
    assert [e["id"] for e in run_json["events"]] == [e.id for e in scenario.events]


def test_categorical_outcomes_are_expanded(run_json: dict[str, Any]) -> None:
    ids = [row["id"] for row in run_json["outcomes"]]
    assert ids == [
        "king_rules",
        "unrest_end",
        "plotted_by_july",
        "ruler_end.none",
        "ruler_end.king",
        "ruler_end.rebel",
        "ruler_end.palace",
        "rebel_crushed",
    ]
    p = {row["id"]: row["p"] for row in run_json["outcomes"]}
    assert p["ruler_end.king"] == p["king_rules"]
    assert sum(v for k, v in p.items() if k.startswith("ruler_end.")) == pytest.approx(1.0)
    assert p["unrest_end"] > 1.0  # a mean, not a probability


def test_run_json_equals_the_api(run_json: dict[str, Any]) -> None:
    from kremlinology.api import simulate

    api = json.loads(simulate(load_scenario(TESTBED), runs=3000, seed=5).to_json())
    assert {k: v for k, v in api.items() if k != "elapsed_s"} == {
        k: v for k, v in run_json.items() if k != "elapsed_s"
    }


def test_never_fired_event_has_null_median(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s",
        {
            "events.yaml": "events:\n"
            "  - {id: never, label: Never, hazard: 0}\n"
            "  - {id: always, label: Always, window: [2000-03, 2000-03]}\n"
        },
    )
    done = cli("run", "--scenario", str(folder), "--runs", "50", "--json")
    assert done.returncode == 0, done.stderr
    events = {e["id"]: e for e in json.loads(done.stdout)["events"]}
    assert events["never"]["median_month"] is None and events["never"]["p"] == 0.0
    assert events["always"]["median_month"] == "2000-03" and events["always"]["p"] == 1.0


def test_run_prints_tables() -> None:
    done = cli("run", "--scenario", "testbed", "--runs", "200", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "The king still rules at the end" in done.stdout
    assert "Ruler at the end: Rebel" in done.stdout  # the actor by its name, not its id
    assert "2000-06" in done.stdout  # the famine's median month


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--runs must be between 1 and 100,000,000, not 0"),
        ("-5", "--runs must be between 1 and 100,000,000, not -5"),
        ("1.5", "--runs must be a whole number, not '1.5'"),
        ("abc", "--runs must be a whole number, not 'abc'"),
        ("100000001", "--runs must be between 1 and 100,000,000, not 100,000,001"),
        ("", "--runs must be a whole number, not ''"),
    ],
)
def test_bad_runs(value: str, message: str) -> None:
    line = one_error_line(cli("run", "--scenario", "testbed", f"--runs={value}"))
    assert line == f"error: {message}"


@pytest.mark.parametrize("value", ["-1", "9223372036854775808", "x", "1e3"])
def test_bad_seed(value: str) -> None:
    line = one_error_line(cli("run", "--scenario", "testbed", f"--seed={value}"))
    assert line.startswith("error: --seed must be")


def test_unknown_scenario_lists_the_available_ones() -> None:
    line = one_error_line(cli("run", "--scenario", "no_such_thing"))
    assert line.startswith("error: unknown scenario 'no_such_thing'; available: ")
    assert "testbed" in line


def test_a_file_that_is_not_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    line = one_error_line(cli("run", "--scenario", str(tmp_path / "notes.txt")))
    assert "no such scenario folder" in line
    line = one_error_line(cli("check", str(tmp_path)))
    assert "no scenario.yaml" in line


def test_non_yaml_content(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {"events.yaml": "events: [\n  {id: : :\n"})
    line = one_error_line(cli("run", "--scenario", str(folder), "--runs", "10"))
    assert POSITION.match(line) and "YAML error" in line


def test_binary_content(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {})
    (folder / "events.yaml").write_bytes(bytes(range(256)))
    line = one_error_line(cli("check", str(folder)))
    assert line.endswith(":2:118: file is not UTF-8 text (byte 0x80 at offset 128)")


def test_unreadable_content(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {})
    (folder / "events.yaml").mkdir()
    line = one_error_line(cli("run", "--scenario", str(folder), "--runs", "10"))
    assert line.endswith("events.yaml:1:1: refused: a folder, not a regular file")


def test_missing_referenced_file(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s",
        {"params.yaml": "parameters:\n  - {id: luck, prior: {dist: uniform, low: 0, high: 1}}\n"},
        manifest_extra="posterior: fitted.csv\n",
    )
    line = one_error_line(cli("run", "--scenario", str(folder), "--runs", "10"))
    assert POSITION.match(line)
    assert line.endswith("scenario.yaml:6:12: posterior file 'fitted.csv' is missing")


def test_check_prints_every_problem(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s",
        {
            "events.yaml": "events:\n"
            "  - {id: a, label: A, hazard: 'nope'}\n"
            "  - {id: b, label: B, when: 'fired(\"zzz\")'}\n"
            "  - {id: a, label: C, window: [2000-01, 2009-01]}\n"
        },
    )
    done = cli("check", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 4, lines
    assert all(POSITION.match(line) for line in lines)
    assert [line.split(": ", 1)[0].rsplit(":", 2)[1:] for line in lines] == [
        ["2", "32"],
        ["3", "36"],
        ["4", "10"],
        ["4", "41"],
    ]


def test_check_ok() -> None:
    done = cli("check", "testbed")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: testbed 1.0.0: 3 actors, 8 events, 4 parameters")


def test_schema_is_valid_json_schema() -> None:
    done = cli("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    assert jsonschema_rs.meta.is_valid(schema)
    validator = jsonschema_rs.validator_for(schema)
    yaml = YAML(typ="safe")
    for path in sorted(TESTBED.glob("*.yaml")):
        document = yaml.load(path.read_text())
        assert validator.is_valid(_jsonable(document)), path.name
    bad = {"events": [{"id": "e1", "label": "x", "hazzard": 0.5}]}
    assert not validator.is_valid(bad)
    assert not validator.is_valid({"events": [{"id": "Bad Id", "label": "x"}]})


def _jsonable(value: Any) -> Any:
    """YAML's safe loader keeps dates and such as Python objects; JSON Schema wants JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def test_python_m_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("kremlinology")
    if not script.exists():
        pytest.skip("console script not installed")
    args = ["run", "--scenario", "testbed", "--runs", "100", "--seed", "2", "--json"]
    a = json.loads(cli(*args).stdout)
    b = json.loads(
        subprocess.run([str(script), *args], capture_output=True, text=True, check=True).stdout
    )
    a.pop("elapsed_s")
    b.pop("elapsed_s")
    assert a == b

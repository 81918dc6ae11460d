"""Every command speaks JSON when asked, errors included; ``--version``, completion, help types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TESTBED
from kremlinology.cli import COMMANDS, app
from kremlinology.version import __version__

RUNNER = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    done = RUNNER.invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def one_object(text: str) -> dict[str, object]:
    assert text.count("\n") == 1 and text.endswith("\n"), text  # one object, one line
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_takes_json(name: str) -> None:
    code, out, _ = invoke(name, "--help")
    assert code == 0 and "--json" in out, out


NUMBERS = ("--runs", "--seed", "--workers", "--timeline", "--max-runs")


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_numeric_options_have_types_in_help(name: str) -> None:
    """Numbers are read as text (so ``20_000`` works) but shown as numbers, not ``<str>``."""
    code, out, _ = invoke(name, "--help")
    assert code == 0
    for option in NUMBERS:
        shown = re.search(rf"{option}\s+(\S+)", out)
        if shown is not None:
            assert shown.group(1) in ("N", "SEED", "<int>"), (option, shown.group(1))
    assert "--scenario <str>" not in out


def test_version_and_completion() -> None:
    code, out, _ = invoke("--version")
    assert code == 0 and out == f"kremlinology {__version__}\n"
    code, out, _ = invoke("--help")
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--runs", "many", "--json"), "--runs must be a whole number, not 'many'"),
        (("run", "--scenario", "atlantis", "--json"), "unknown scenario 'atlantis'"),
        (("run", "--no-such-option", "--json"), "No such option: --no-such-option"),
        (("whatif", "--json"), "Missing argument"),
        (("whatif", "zzz_nothing", "--scenario", str(TESTBED), "--json"), "does not match"),
        (("check", "/no/such/folder", "--json"), "no such scenario folder"),
    ],
)
def test_errors_under_json_are_one_object(args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2, (out, err)
    error = one_object(out)
    assert message in str(error["error"]), error
    assert set(error) >= {"error", "position", "problems"}
    assert "Traceback" not in err


def test_a_scenario_error_under_json_has_its_positions(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(
        "name: broken\nversion: '1'\ntitle: t\nstart: 2000-01\nend: 2000-06\n", encoding="utf-8"
    )
    (folder / "events.yaml").write_text(
        "events:\n  - id: e\n    label: e\n    hazard: 'nobody + 1'\n", encoding="utf-8"
    )
    code, out, _ = invoke("check", str(folder), "--json")
    assert code == 2
    error = one_object(out)
    position = error["position"]
    assert isinstance(position, dict) and position["file"].endswith("events.yaml")
    assert position["line"] == 4 and position["col"] > 1
    problems = error["problems"]
    assert isinstance(problems, list) and problems and "nobody" in problems[0]["message"]


def test_the_catalogue_is_an_object() -> None:
    code, out, _ = invoke("whatifs", "--scenario", str(TESTBED), "--json")
    data = one_object(out)
    assert code == 0 and data["scenario"]["name"] == "testbed"  # type: ignore[index]
    assert [w["id"] for w in data["whatifs"]] == ["no_plot", "early_famine_riot"]  # type: ignore[attr-defined]


def test_check_schema_report_and_chronicle_answer_json(tmp_path: Path) -> None:
    code, out, _ = invoke("check", str(TESTBED), "--json")
    checked = one_object(out)
    assert code == 0 and checked["ok"] is True
    assert checked["counts"] == {  # the testbed's own files, counted independently
        "actors": 3,
        "events": 8,
        "parameters": 4,
        "outcomes": 5,
        "facts": 2,
        "whatifs": 2,
    }
    code, out, _ = invoke("schema", "--json")
    assert code == 0 and one_object(out)["title"] == "Kremlinology scenario file"
    common = ("no_plot", "--scenario", str(TESTBED), "--runs", "300", "--seed", "2")
    code, out, _ = invoke("report", *common, "--out", str(tmp_path / "r"), "--json")
    written = one_object(out)
    assert code == 0 and {"report.md", "report.bbcode", "result.json"} <= set(written["files"])  # type: ignore[arg-type]
    assert all((tmp_path / "r" / name).is_file() for name in written["files"])  # type: ignore[attr-defined]
    code, out, _ = invoke("chronicle", *common, "--json")
    told = json.loads(out)
    assert code == 0 and isinstance(told, dict) and told["timeline"] >= 0


def test_whatif_json_lists_each_events_share_in_both_worlds() -> None:
    args = ("whatif", "no_plot", "--scenario", str(TESTBED), "--runs", "500", "--seed", "6")
    code, out, _ = invoke(*args, "--json", "--no-drivers")
    answer = one_object(out)
    assert code == 0
    events = {row["id"]: row for row in answer["events"]}  # type: ignore[attr-defined]
    assert list(events) == [  # every event of the testbed, in its order
        "plot",
        "discovered",
        "famine",
        "riot",
        "hard_line",
        "tax_protest",
        "omen",
        "abdication",
    ]
    for row in events.values():
        assert {"id", "label", "baseline", "whatif", "delta", "ci"} <= set(row)
        assert 0 <= row["baseline"] <= 1 and 0 <= row["whatif"] <= 1
        assert row["ci"][0] <= row["delta"] <= row["ci"][1]
    assert events["plot"]["whatif"] == 0 and events["plot"]["baseline"] > 0  # blocked
    assert events["omen"]["delta"] == 0  # January, before anything can differ

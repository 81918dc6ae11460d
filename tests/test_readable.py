"""Names and numbers as people write them: actors by name, changes in percentage points.

Issue 15 found actor ids (``khrushchev``, ``collective``) in tables, charts and family labels, and
the same change written ``-0.297``, ``-30%`` and ``-29.7 points``; these tests hold every place
to one way of writing each.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import kremlinology.api as k
from conftest import TESTBED, write_scenario
from kremlinology.analysis.effects import outcome_columns
from kremlinology.cli import app
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.narrate import numbers
from kremlinology.narrate.families import families
from kremlinology.narrate.report import outcome_lines, summary
from kremlinology.narrate.verdicts import whatif_html, whatif_verdict
from kremlinology.scenario.errors import ScenarioError
from kremlinology.scenario.loader import load_scenario
from kremlinology.web.views import outcome_rows

RUNS, SEED = 2000, 7


@pytest.fixture(scope="module")
def riot() -> WhatIfResult:
    return k.whatif("early_famine_riot", TESTBED, RUNS, SEED)


def test_numbers_are_written_one_way() -> None:
    assert numbers.share(0.41234) == "41.2%"
    assert numbers.points(-0.2974) == "-29.7 points"
    assert numbers.points(0.0004) == "+0.0 points"
    assert numbers.points(-0.0004) == "+0.0 points"  # no "-0.0"
    assert numbers.points_interval(-0.351, -0.243) == "-35.1 to -24.3 points"
    assert numbers.number(5.9712) == "5.97"
    assert numbers.change(0.31249) == "+0.312"
    assert numbers.share(None) == "n/a"


def test_thaw_categories_are_written_by_name() -> None:
    scenario = load_scenario("thaw")
    values = np.zeros((len(scenario.outcomes), 1))
    labels = [c.label for c in outcome_columns(scenario, values)]
    categorical = [label for label in labels if label.startswith("Paramount leader in")]
    assert categorical, "the thaw has categorical outcomes of the paramount leader"
    names = {a.name.split()[-1] for a in scenario.actors if a.kind == "person"}
    ids = {a.id for a in scenario.actors}
    for label in categorical:
        value = label.split(": ", 1)[1]
        assert value not in ids, label
        assert value in names or value == "the collective leadership", label
    assert "Paramount leader in January 1954: the collective leadership" in labels
    assert "Paramount leader in January 1960: Khrushchev" in labels


def test_a_value_label_for_an_unknown_value_is_an_error(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s",
        {
            "world.yaml": """\
                variables:
                  - id: mood
                    type: categorical
                    values: [calm, angry]
                    value_labels: {calm: quiet, furious: in a rage}
                    initial: calm
                outcomes:
                  - {id: mood_end, label: Mood at the end, expr: mood}
                """
        },
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(folder)
    message = str(error.value)
    assert re.search(r"world\.yaml:\d+:\d+: 'mood': value_labels names 'furious'", message), message


def test_value_labels_name_the_categories(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s",
        {
            "world.yaml": """\
                variables:
                  - id: mood
                    type: categorical
                    values: [calm, very_angry]
                    value_labels: {calm: quiet as a mouse}
                    initial: calm
                outcomes:
                  - {id: mood_end, label: Mood at the end, expr: mood}
                """
        },
    )
    scenario = load_scenario(folder)
    labels = [c.label for c in outcome_columns(scenario, np.zeros((1, 1)))]
    assert labels == ["Mood at the end: quiet as a mouse", "Mood at the end: very angry"]


def test_testbed_family_labels_and_tables_name_actors(riot: WhatIfResult) -> None:
    ids = {a.id for a in riot.scenario.actors}
    texts = [f.label for f in families(riot)] + [row.label for row in outcome_lines(riot)]
    texts += [row["label"] for row in riot.outcomes]
    for text in texts:
        for ident in ids:
            assert not re.search(rf":\s+{ident}\b", text), text
    assert any("Ruler at the end: Rebel" in t for t in texts)


def test_every_place_writes_a_change_in_points(riot: WhatIfResult) -> None:
    row = next(r for r in riot.sorted_outcomes() if r["kind"] == "boolean")
    written = numbers.points(row["delta"])
    interval = numbers.points_interval(*row["ci"])
    assert written.endswith(" points") and abs(row["delta"]) > 0.01
    line = next(line for line in outcome_lines(riot) if line.label == row["label"])
    assert (line.change, line.interval) == (written, interval)
    sentence = f"{numbers.share(row['baseline'])} -> {numbers.share(row['whatif'])}"
    told = next(s for s in summary(riot) if s.startswith(row["label"]))
    assert sentence in told and written in told and interval in told, told
    told = next(s for s in whatif_verdict(riot, limit=10) if s.startswith(row["label"]))
    assert sentence in told and written in told and interval in told, told
    assert f"<td>{written}</td>" in whatif_html(riot)
    kinds = {o.id: "probability" for o in riot.scenario.outcomes}
    web = next(r for r in outcome_rows(riot.to_dict(), kinds) if r["label"] == row["label"])
    assert (web["change"], web["interval"]) == (written, interval)
    shown = CliRunner().invoke(
        app,
        [
            "whatif",
            "early_famine_riot",
            "--scenario",
            str(TESTBED),
            "--runs",
            str(RUNS),
            "--seed",
            str(SEED),
        ],
        env={"COLUMNS": "200"},
    )
    assert shown.exit_code == 0, shown.output
    assert written in shown.output and interval in shown.output
    # No other spelling of a change of a probability: a signed percentage or a bare fraction.
    binary = [o["label"] for o in riot.outcomes if o["kind"] == "boolean"]
    for text in [*summary(riot), *whatif_verdict(riot), *shown.output.splitlines()]:
        assert not re.search(r"[+-]\d+(\.\d+)?%", text), text
        if any(label in text for label in binary):
            assert not re.search(r"(?<![\d.])[+-]0\.\d{2,}\b(?! points)", text), text


def test_run_hides_outcomes_that_never_happen_unless_asked() -> None:
    args = ["run", "--scenario", str(TESTBED), "--runs", "200", "--seed", "3"]
    runner = CliRunner()
    short = runner.invoke(app, args, env={"COLUMNS": "200"})
    full = runner.invoke(app, [*args, "--all"], env={"COLUMNS": "200"})
    assert short.exit_code == full.exit_code == 0, short.output + full.output
    result = k.simulate(TESTBED, runs=200, seed=3)
    never = [r["label"] for r in result.outcome_rows() if r["p"] == 0 and r["kind"] != "number"]
    happens = [r["label"] for r in result.outcome_rows() if r["p"] > 0]
    assert never and happens
    for label in never:
        assert label not in short.output and label in full.output
    for label in happens:
        assert label in short.output and label in full.output
    assert f"({len(never)} outcomes and" in short.output and "--all lists them" in short.output

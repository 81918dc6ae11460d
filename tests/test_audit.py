"""The coherence audit: each rule is caught on a scenario built to break it, and the bundled
scenarios' baselines and catalogue what-ifs are clean."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import kremlinology.api as k
import kremlinology.counterfactual.audit as audit_worlds
from conftest import TESTBED, vector_logs, write_scenario
from kremlinology.analysis.audit import audit as count_incoherences
from kremlinology.cli import app
from kremlinology.counterfactual.audit import AuditedWorlds
from kremlinology.counterfactual.catalogue import resolve_query
from kremlinology.counterfactual.interventions import divergence_month, to_plan
from kremlinology.narrate.templates import Narrator
from kremlinology.scenario.expressions import BOOL, Node
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario

CAST = """
actors:
  - id: tsar
    name: Ivan the Terrible
    kind: person
    attributes: {alive: true, free: true}
  - id: boyar
    name: Boris Godunov
    kind: person
    attributes: {alive: true, free: true}
  - id: duma
    name: The Boyar Duma
    kind: institution
    attributes: {exists: true}
variables:
  - {id: ruler, type: categorical, values: actors, initial: tsar}
events:
  - id: arrest
    label: The boyar is arrested
    window: [2000-01, 2000-01]
    hazard: "0.5"
    effects: {boyar.free: false}
  - id: dissolve
    label: The duma is dissolved
    window: [2000-01, 2000-01]
    hazard: "0.3"
    effects: {duma.exists: false}
  - id: speech
    label: The boyar speaks in the duma
    window: [2000-02, 2000-12]
    once: false
    actors: [boyar, duma]
    narrate: "In {month} Godunov spoke to the Boyar Duma."
  - id: decree
    label: A decree
    window: [2000-03, 2000-03]
    actors: [ruler]
    narrate: "In {month} {ruler} issued a decree."
  - id: rumour
    label: A rumour
    window: [2000-04, 2000-04]
    hazard: "0.5"
    actors: [boyar]
    narrate: "In {month} it was whispered that Ivan the Terrible feared Godunov."
  - id: feast
    label: A feast
    window: [2000-05, 2000-06]
    hazard: "0.5"
whatifs:
  - id: late_feast
    title: A feast forced at the last moment
    description: The feast is forced in the last month of its window.
    intervention: "do(feast @ 2000-06)"
  - id: early_feast
    title: A feast forced early
    description: The feast is forced in the first month of its window.
    intervention: "do(feast @ 2000-05)"
"""


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    folder = write_scenario(tmp_path_factory.mktemp("cast"), {"cast.yaml": CAST})
    return load_scenario(folder)


def test_a_kernel_that_ignored_the_in_play_rule_would_be_caught(cast: Scenario) -> None:
    true = Node("const", (True,), BOOL)
    broken = dataclasses.replace(
        cast, events=[dataclasses.replace(e, in_play=true) for e in cast.events]
    )
    report = k.audit(None, broken, 400, 2)
    # worked out from the logs: the speech fires in all 11 months from February and is out of play
    # wherever the boyar was arrested or the duma dissolved in January; the rumour is out of play
    # wherever it fired (draws are those of the correct kernel) after the boyar's arrest
    logs, broken_logs = vector_logs(cast, 2, 400), vector_logs(broken, 2, 400)
    gone = sum(any(e in ("arrest", "dissolve") for _, e, _ in log) for log in logs)
    rumours = sum(
        any(e == "arrest" for _, e, _ in log) and any(e == "rumour" for _, e, _ in other)
        for log, other in zip(logs, broken_logs, strict=True)
    )
    assert gone > 100 and rumours > 50
    assert report.firings_out_of_play == 11 * gone + rumours
    rules = {e["rule"] for e in report.examples}
    assert "firing_out_of_play" in rules
    assert k.audit(None, cast, 400, 2).firings_out_of_play == 0


def test_sentences_naming_an_absent_man_are_counted(cast: Scenario) -> None:
    report = k.audit(None, cast, 400, 3)
    logs = vector_logs(cast, 3, 400)
    # the rumour names the tsar, who is not among its actors; the speech and the decree name only
    # their actors (Godunov by his short name, the ruler through the office) and are fine
    rumours = sum(e == "rumour" for log in logs for _, e, _ in log)
    assert rumours > 50
    assert report.sentences_naming_absent == rumours
    assert {e["event"] for e in report.examples} == {"rumour"}
    example = report.examples[0]
    assert example["actor"] == "tsar"
    assert (
        example["text"] == "In April 2000 it was whispered that Ivan the Terrible feared Godunov."
    )
    assert report.firings_out_of_play == 0


def test_forced_firings_at_the_end_of_a_window_are_counted(cast: Scenario) -> None:
    late = k.audit("late_feast", cast, 300, 4, condition=False)
    early = k.audit("early_feast", cast, 300, 4, condition=False)
    assert early.forced_at_window_end == 0
    # the feast is forced in June wherever it did not happen in May (a once event)
    logs = vector_logs(cast, 4, 300)
    may = sum(any(m == cast.start + 4 and e == "feast" for m, e, _ in log) for log in logs)
    assert late.forced_at_window_end == 300 - may
    assert 100 < may < 200


def test_the_audit_command_prints_json_and_exits_1_on_findings(cast: Scenario) -> None:
    runner = CliRunner()
    folder = str(cast.path)
    found = runner.invoke(
        app, ["audit", "--baseline", "--scenario", folder, "--runs", "200", "--json"]
    )
    assert found.exit_code == 1, found.output
    data = json.loads(found.stdout)
    assert set(data) >= {
        "query",
        "runs",
        "seed",
        "firings_out_of_play",
        "sentences_naming_absent",
        "examples",
    }
    assert data["runs"] == 200 and data["seed"] == 1 and data["sentences_naming_absent"] > 0
    assert set(data["examples"][0]) >= {"timeline", "month", "event", "actor", "text"}
    clean = runner.invoke(app, ["audit", "no_plot", "--scenario", str(TESTBED), "--runs", "100"])
    assert clean.exit_code == 0, clean.output
    assert "clean" in clean.stdout
    both = runner.invoke(app, ["audit", "no_plot", "--baseline", "--scenario", str(TESTBED)])
    assert both.exit_code == 2


FATES = """
actors:
  - id: tsar
    name: Ivan the Terrible
    kind: person
    attributes: {alive: true, free: true}
  - id: boyar
    name: Boris Godunov
    kind: person
    attributes: {alive: true, free: true}
  - id: guild
    name: The Merchant Guild
    kind: institution
    attributes: {exists: false}
variables:
  - {id: ruler, type: categorical, values: actors, initial: tsar}
events:
  - id: arrest
    label: The boyar is arrested
    window: [2000-01, 2000-01]
    hazard: "0.5"
    effects: {boyar.free: false}
  - id: trial
    label: The boyar is tried and executed
    window: [2000-02, 2000-02]
    when: "not boyar.free and boyar.alive"
    hazard: "1"
    effects: {boyar.alive: false}
    narrate: "Godunov was tried in his cell and put to death."
  - id: founding
    label: The guild is founded
    window: [2000-02, 2000-02]
    when: "not guild.exists"
    hazard: "1"
    effects: {guild.exists: true}
    narrate: "The Merchant Guild was founded."
  - id: crowning
    label: A new ruler is crowned
    window: [2000-03, 2000-03]
    hazard: "1"
    options:
      - {id: tsar, label: Ivan the Terrible, effects: {ruler: tsar}}
      - {id: boyar, label: Godunov, effects: {ruler: boyar}}
    narrate: "{option} was crowned."
  - id: pardon
    label: The boyar is pardoned
    window: [2000-04, 2000-04]
    when: "not boyar.free"
    hazard: "1"
    effects: {boyar.free: true}
    narrate: "Godunov was pardoned."
"""


def test_the_man_an_event_befalls_or_installs_may_be_named(tmp_path: Path) -> None:
    # neither the trial's nor the crowning's sentence names a listed actor: the prisoner the
    # trial befalls (its condition reads his `free` and `alive`, its effects set `alive`) and
    # the guild the founding creates may be named out of play; the man a crowning installs must
    # be in play; the pardon sets `free` without reading `alive`, so it names a dead man
    scenario = load_scenario(write_scenario(tmp_path, {"fates.yaml": FATES}))
    report = k.audit(None, scenario, 400, 5)
    logs = vector_logs(scenario, 5, 400)
    arrested = [any(e == "arrest" for _, e, _ in log) for log in logs]
    crowned = [any(e == "crowning" and o == "boyar" for _, e, o in log) for log in logs]
    both = sum(a and c for a, c in zip(arrested, crowned, strict=True))
    assert 150 < sum(arrested) < 250 and both > 50 and sum(crowned) - both > 50
    trials = [sum(e == "trial" for _, e, _ in log) for log in logs]
    assert trials == [int(a) for a in arrested]
    assert report.sentences_naming_absent == sum(arrested) + both
    assert {e["event"] for e in report.examples} == {"crowning", "pardon"}
    assert report.firings_out_of_play == 0


def _cases(name: str) -> list[str | None]:
    return [None, *(w.id for w in load_scenario(name).whatifs)]


@pytest.mark.parametrize("query", _cases(str(TESTBED)))
def test_the_testbed_is_coherent(testbed: Scenario, query: str | None) -> None:
    report = k.audit(query, testbed, 400, 1)
    assert report.clean, report.to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("query", _cases("thaw"))
def test_the_thaw_is_coherent(query: str | None) -> None:
    report = k.audit(query, "thaw", 16, 1)
    assert report.clean, {key: v for key, v in report.to_dict().items() if key != "examples"}


def test_kernel_in_play_rule_holds_in_the_thaw_baseline() -> None:
    # what the Thaw cannot fail today: no firing with an actor out of play, no forced firing late
    report = k.audit(None, "thaw", 24, 1)
    assert report.firings_out_of_play == 0 and report.forced_at_window_end == 0


def _worlds(
    scenario: Scenario, query: str | None, runs: int, seed: int, in_blocks: bool
) -> AuditedWorlds:
    """The logged worlds of an audit, in one block or in blocks as on a cluster."""
    if query is None:
        if in_blocks:
            return audit_worlds._baseline_worlds_in_blocks(scenario, runs, seed)
        return audit_worlds.baseline_worlds(scenario, runs, seed)
    interventions = resolve_query(query, scenario).interventions
    plan, divergence = to_plan(interventions, scenario), divergence_month(interventions, scenario)
    how = audit_worlds._whatif_worlds_in_blocks if in_blocks else audit_worlds.whatif_worlds
    return how(scenario, plan, divergence, runs, seed, True)


@pytest.mark.parametrize(
    ("which", "query"),
    [("cast", None), ("cast", "late_feast"), ("testbed", None), ("testbed", "no_plot")],
)
def test_an_audit_in_blocks_logs_what_one_block_logs(
    cast: Scenario, testbed: Scenario, which: str, query: str | None
) -> None:
    """On a cluster the audit runs in blocks and merges their logs: the same firings, arrays
    and all, as one block's, so the same report (examples included)."""
    scenario = cast if which == "cast" else testbed
    one = _worlds(scenario, query, 301, 5, in_blocks=False)
    cut = _worlds(scenario, query, 301, 5, in_blocks=True)
    assert (cut.runs, cut.seed, cut.kept) == (one.runs, one.seed, one.kept)
    assert list(cut.worlds) == list(one.worlds)
    assert sum(len(firings) for firings in one.worlds.values()) > 0
    for name, firings in one.worlds.items():
        assert len(cut.worlds[name]) == len(firings)
        for a, b in zip(firings, cut.worlds[name], strict=True):
            assert (a.month, a.event) == (b.month, b.event)
            for field in ("timelines", "options", "holders", "in_play"):
                assert np.array_equal(getattr(a, field), getattr(b, field)), (name, field)
    sentence = Narrator(scenario).sentence
    report = count_incoherences(scenario, one, sentence, query or "baseline")
    assert count_incoherences(scenario, cut, sentence, query or "baseline") == report
    if which == "cast":
        assert not report.clean  # examples, and their order, are compared too


def test_audit_takes_engine_and_cluster_like_the_other_commands(cast: Scenario) -> None:
    """``audit --engine`` is accepted (the audit's firing logs are the NumPy kernel's whatever
    it says, as for chronicles): even the compiled kernel, which keeps no firing log, gives the
    default's JSON; a bad value is a clear error."""
    runner = CliRunner()
    args = ["audit", "late_feast", "--scenario", str(cast.path), "--runs", "150", "--json"]
    default = runner.invoke(app, args)
    assert default.exit_code == 1, default.output  # the late feast is found
    for engine in ("numpy", "compiled"):
        other = runner.invoke(app, [*args, "--engine", engine])
        assert other.exit_code == 1, other.output
        assert json.loads(other.stdout) == json.loads(default.stdout), engine
    bad = runner.invoke(app, [*args, "--engine", "fast"])
    assert bad.exit_code == 2 and "--engine must be one of" in bad.stdout
    bad = runner.invoke(app, [*args, "--cluster", "local:0"])
    assert bad.exit_code == 2 and "local:N needs N" in bad.stdout

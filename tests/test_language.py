"""The scenario language for mechanisms: templates, offices and their holders, actors in play,
and derived quantities that neither crash nor hang however they are chained."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from conftest import vector_logs, write_scenario
from kremlinology.engine.reference import reference_run, run_timeline, start_timeline
from kremlinology.engine.simulate import Recorder, start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.errors import ScenarioError
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario
from kremlinology.scenario.templates import MAX_EXPANSION

WORLD = """
actors:
  - id: tsar
    name: Ivan the Terrible
    kind: person
    attributes:
      alive: true
      free: true
      born: 1530
      power: {value: 0.9, min: 0, max: 1}
      hardline: {value: 0.8, min: 0, max: 1}
  - id: boyar
    name: Boris Godunov
    short: Godunov
    kind: person
    attributes:
      alive: true
      free: true
      born: 1552
      power: {value: 0.4, min: 0, max: 1}
      hardline: {value: 0.3, min: 0, max: 1}
  - id: monk
    name: Grigory Otrepyev
    kind: person
    attributes:
      alive: true
      born: 1581
      power: {value: 0.1, min: 0, max: 1}
  - id: duma
    name: The Boyar Duma
    kind: institution
    attributes:
      exists: true
      chair: {value: boyar, values: actors}
groups:
  - {id: men, members: [tsar, boyar, monk]}
  - {id: nobles, label: The two grandees, members: [tsar, boyar]}
variables:
  - {id: ruler, type: categorical, values: actors, initial: tsar}
  - {id: turmoil, type: number, initial: 0, min: 0, max: 10}
"""


def load(tmp_path: Path, events: str, name: str = "s") -> Scenario:
    folder = write_scenario(tmp_path / name, {"world.yaml": WORLD, "events.yaml": events})
    return load_scenario(folder)


def problems(tmp_path: Path, events: str) -> list[str]:
    folder = write_scenario(tmp_path / "bad", {"world.yaml": WORLD, "events.yaml": events})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(folder)
    prefix = str(folder) + "/"
    return [str(p).replace(prefix, "").split("/")[-1] for p in caught.value.problems]


# -- templates ---------------------------------------------------------------------------------


def test_for_each_over_a_group_generates_one_event_per_member(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
events:
  - for_each: {man: men}
    id: "death_{man}"
    label: "{man.name} dies ({man.short}, born {man.born})"
    when: "{man}.alive"
    hazard: "0.01 * (month / 12 - {man.born}) / 10"
    effects:
      "{man}.alive": false
    narrate: "In {month} {man.short} died."
""",
    )
    ids = [e.id for e in scenario.events]
    assert ids == ["death_tsar", "death_boyar", "death_monk"]
    assert [e.label for e in scenario.events] == [
        "Ivan the Terrible dies (Terrible, born 1530)",
        "Boris Godunov dies (Godunov, born 1552)",
        "Grigory Otrepyev dies (Otrepyev, born 1581)",
    ]
    boyar = scenario.events[1]
    assert boyar.narrate == "In {month} Godunov died."
    assert boyar.effects[0].slot == scenario.slot_index["boyar.alive"]


def test_a_missing_field_is_an_error_naming_the_expansion(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
events:
  - for_each: {man: men}
    id: "death_{man}"
    label: "{man.name} dies, a hardliner of {man.hardline}"
""",
    )
    assert found == [
        "events.yaml:5:12: in for_each man=monk: {man.hardline}: actor 'monk' has no field or "
        "attribute 'hardline' (fields: id, name, short, kind, or an attribute)"
    ]


def test_an_error_in_a_generated_expression_points_into_the_template(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
events:
  - for_each: {man: [tsar, boyar]}
    id: "fall_{man}"
    label: fall
    when: "{man}.power > 0.5 and {man}.stregth < 1"
""",
    )
    # column 34 of line 6 is where '{man}.stregth' starts in the template's text
    assert found == [
        "events.yaml:6:34: in for_each man=tsar: unknown name 'tsar.stregth'",
        "events.yaml:6:34: in for_each man=boyar: unknown name 'boyar.stregth'",
    ]


def test_pairs_skip_a_man_plotting_against_himself(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
events:
  - for_each: {plotter: nobles, target: men}
    id: "plot_{plotter}_{target}"
    label: "{plotter.short} plots against {target.short}"
    hazard: "0.1 * {plotter}.power * (1 - {target}.power)"
    actors: ["{plotter}", "{target}"]
  - for_each: {a: [tsar, boyar], b: [tsar, boyar], distinct: false}
    id: "meet_{a}_{b}"
    label: meeting
""",
    )
    ids = [e.id for e in scenario.events]
    assert ids == [
        "plot_tsar_boyar",
        "plot_tsar_monk",
        "plot_boyar_tsar",
        "plot_boyar_monk",
        "meet_tsar_tsar",
        "meet_tsar_boyar",
        "meet_boyar_tsar",
        "meet_boyar_boyar",
    ]
    assert scenario.events[0].actors == ("tsar", "boyar")


def test_nested_templates_generate_options_with_the_outer_variable(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
events:
  - for_each: {office: [ruler]}
    id: "{office}_succession"
    label: "a new {office}"
    options:
      - for_each: {man: men}
        id: "{man}"
        label: "{man.name}"
        weight: "{man}.power"
        effects: {"{office}": "{man}"}
""",
    )
    event = scenario.events[0]
    assert event.id == "ruler_succession"
    assert [o.id for o in event.options] == ["tsar", "boyar", "monk"]
    assert [o.label for o in event.options] == [
        "Ivan the Terrible",
        "Boris Godunov",
        "Grigory Otrepyev",
    ]


def test_templates_generate_attributes_derived_outcomes_and_facts(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
attributes:
  - for_each: {man: men}
    actor: "{man}"
    attributes:
      rank: {value: 1, min: 0, max: 3}
derived:
  - for_each: {man: men}
    id: "up_{man}"
    expr: "{man}.alive and {man}.rank > 0"
outcomes:
  - for_each: {man: men}
    id: "{man}_up"
    label: "{man.name} in play at the end"
    expr: "up_{man}"
facts:
  - for_each: {man: [tsar]}
    id: "{man}_alive"
    month: 2000-06
    label: "{man.short} alive"
    condition: "{man}.alive"
""",
    )
    assert {"tsar.rank", "boyar.rank", "monk.rank"} <= set(scenario.slot_index)
    assert [o.id for o in scenario.outcomes] == ["tsar_up", "boyar_up", "monk_up"]
    assert [f.id for f in scenario.facts] == ["tsar_alive"]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (
            "events:\n  - for_each: {man: lords}\n    id: x_{man}\n    label: x\n",
            "events.yaml:2:15: 'man': unknown group 'lords' (groups: men, nobles)",
        ),
        (
            "events:\n  - for_each: [tsar]\n    id: x\n    label: x\n",
            "events.yaml:2:15: for_each must map variable names to a list or a group of actors",
        ),
        (
            "actors:\n  - for_each: {man: men}\n    id: x_{man}\n    name: x\n    kind: person\n",
            "events.yaml:2:5: 'actors' cannot be generated by for_each",
        ),
        (
            "events:\n  - for_each: {man: men}\n    id: e_{man}\n    label: x\n    options:\n"
            "      - for_each: {man: men}\n        id: o_{man}\n",
            "events.yaml:6:19: in for_each man=tsar: variable 'man' is already bound by an "
            "enclosing for_each",
        ),
    ],
)
def test_malformed_templates_are_refused_with_positions(
    tmp_path: Path, events: str, expected: str
) -> None:
    assert expected in problems(tmp_path, events)


def test_expansion_is_bounded(tmp_path: Path) -> None:
    values = ", ".join(f"v{i}" for i in range(300))
    started = time.perf_counter()
    found = problems(
        tmp_path,
        "events:\n"
        f"  - for_each: {{a: [{values}], b: [{values}], c: [{values}], d: [{values}]}}\n"
        "    id: e_{a}_{b}_{c}_{d}\n    label: x\n",
    )
    assert found == [
        f"events.yaml:2:15: for_each would generate more than {MAX_EXPANSION:,} items in this "
        "file (8,100,000,000 here)"
    ]
    assert time.perf_counter() - started < 10


def test_duplicate_generated_ids_name_both_expansions(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "events:\n  - for_each: {man: men}\n    id: same\n    label: x\n",
    )
    assert found == [
        "events.yaml:3:9: in for_each man=boyar: duplicate event id 'same' (first defined at "
        "events.yaml:3:9)",
        "events.yaml:3:9: in for_each man=monk: duplicate event id 'same' (first defined at "
        "events.yaml:3:9)",
    ]


# -- offices -----------------------------------------------------------------------------------


OFFICE_EVENTS = """
events:
  - id: purge
    label: The ruler purges
    hazard: "0.5 * ruler.holder.hardline + (0.2 if duma.chair.holder.free else 0)"
    actors: [ruler]
    effects:
      turmoil: "turmoil + ruler.holder.power * 2"
  - id: coup
    label: A coup
    hazard: "0.2"
    when: "boyar.power > ruler.holder.power - 0.6"
    effects:
      ruler: boyar
      tsar.free: false
  - id: tsar_freed
    label: The tsar escapes
    hazard: "0.3"
    when: "not tsar.free"
    effects: {tsar.free: true}
  - id: monk_rules
    label: The monk seizes the throne
    hazard: "0.05"
    effects: {ruler: monk}
  - id: vacancy
    label: The throne falls vacant
    hazard: "0.05"
    effects: {ruler: none}
outcomes:
  - {id: end_turmoil, label: turmoil, expr: turmoil}
  - {id: ruler_line, label: line, expr: "ruler.holder.hardline"}
"""


def test_holder_attributes_compile_to_a_gather(tmp_path: Path) -> None:
    scenario = load(tmp_path, OFFICE_EVENTS)
    hazard = scenario.events[0].hazard
    assert hazard is not None
    gathers = [n for n in _walk(hazard) if n.op == "gather"]
    assert len(gathers) == 2
    domain = scenario.actor_domain
    assert domain == ("none", "tsar", "boyar", "monk", "duma")
    line = gathers[0]
    slots, fill = line.args[1], line.args[2]
    index = scenario.slot_index
    assert slots == (-1, index["tsar.hardline"], index["boyar.hardline"], -1, -1)
    assert fill == (0.0,) * 5
    assert scenario.offices == {"duma.chair": index["duma.chair"], "ruler": index["ruler"]}


def test_both_kernels_agree_on_offices_and_in_play(tmp_path: Path) -> None:
    scenario = load(tmp_path, OFFICE_EVENTS)
    logs = vector_logs(scenario, 5, 400)
    assert logs == reference_run(scenario, 5, 400)
    seen = {entry[1] for log in logs for entry in log}
    assert seen == {"purge", "coup", "tsar_freed", "monk_rules", "vacancy"}


def test_an_office_among_the_actors_needs_its_holder_in_play(tmp_path: Path) -> None:
    scenario = load(tmp_path, OFFICE_EVENTS)
    program = VectorProgram(scenario)
    block = start_block(program, 2, 0, 2000)
    block.advance(NO_PLAN, log=True)
    assert block.log is not None
    purge = scenario.event_index["purge"]
    checked = 0
    for fired in block.log:
        if fired.event != purge or fired.holders is None:
            continue
        ruler = list(scenario.offices).index("ruler")
        holders = {scenario.actor_domain[int(c)] for c in fired.holders[ruler]}
        assert "none" not in holders  # a vacant office is never in play
        checked += fired.timelines.size
    assert checked > 500


def test_the_holder_of_an_office_is_named_at_that_month(tmp_path: Path) -> None:
    from kremlinology.narrate.templates import Narrator

    scenario = load(
        tmp_path,
        OFFICE_EVENTS.replace(
            "    actors: [ruler]\n",
            '    actors: [ruler]\n    narrate: "{ruler} purged; {actors}."\n',
        ),
    )
    narrator = Narrator(scenario)
    event = scenario.events[scenario.event_index["purge"]]
    assert narrator.sentence(event, scenario.start, None, {"ruler": "boyar"}) == (
        "Boris Godunov purged; Boris Godunov."
    )


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("turmoil.holder.power", "'turmoil' is not an office (a categorical of actors)"),
        ("ruler.holder.wealth", "no actor has an attribute 'wealth'"),
        ("ruler.holder", "write OFFICE.holder.ATTRIBUTE (e.g. ruler.holder.power)"),
        ("ruler.holder.holder.power", "write OFFICE.holder.ATTRIBUTE (e.g. ruler.holder.power)"),
        (
            "ruler.holder.power.holder.x",
            "'ruler.holder.power' is not an office (a categorical of actors)",
        ),
    ],
)
def test_bad_dereferences_are_refused(tmp_path: Path, expr: str, message: str) -> None:
    found = problems(tmp_path, f'events:\n  - id: e\n    label: e\n    hazard: "{expr}"\n')
    assert len(found) == 1 and found[0].endswith(message), found


def test_an_unknown_actor_or_office_among_the_actors_is_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path, "events:\n  - id: e\n    label: e\n    actors: [tsar, ghost, turmoil.x]\n"
    )
    assert found == [
        "events.yaml:4:20: unknown actor 'ghost'",
        "events.yaml:4:27: 'turmoil.x' is not an office (a categorical of actors)",
    ]


# -- actors in play ----------------------------------------------------------------------------


IN_PLAY = """
events:
  - id: arrest
    label: The boyar is arrested
    window: [2000-01, 2000-01]
    hazard: "0.5"
    effects: {boyar.free: false}
  - id: dissolve
    label: The duma is dissolved
    window: [2000-01, 2000-01]
    hazard: "0.5"
    effects: {duma.exists: false}
  - id: boyar_speaks
    label: The boyar speaks in the duma
    window: [2000-02, 2000-12]
    once: false
    actors: [boyar, duma]
  - id: boyar_forced
    label: The boyar is made to speak
    window: [2000-02, 2000-12]
    hazard: "0"
    actors: [boyar]
"""


def test_events_never_fire_for_an_actor_out_of_play(tmp_path: Path) -> None:
    scenario = load(tmp_path, IN_PLAY)
    logs = reference_run(scenario, 3, 400)
    assert logs == vector_logs(scenario, 3, 400)
    for log in logs:
        events = {e for _, e, _ in log}
        speaks = sum(e == "boyar_speaks" for _, e, _ in log)
        in_play = "arrest" not in events and "dissolve" not in events
        assert speaks == (11 if in_play else 0)
    free = sum("arrest" not in {e for _, e, _ in log} for log in logs)
    assert 150 < free < 250  # the comparison is not vacuous


def test_forced_events_with_an_actor_out_of_play_are_refused_and_counted(tmp_path: Path) -> None:
    scenario = load(tmp_path, IN_PLAY)
    plan = Plan(forced={scenario.event_index["boyar_forced"]: frozenset({scenario.start + 3})})
    program = VectorProgram(scenario)
    block = start_block(program, 3, 0, 400)
    recorder = Recorder(program, block.records)
    program.advance(block.world, plan, 3, scenario.end, recorder)
    arrested = block.world.values[scenario.slot_index["boyar.free"]] == 0.0
    forced = scenario.event_index["boyar_forced"]
    assert np.array_equal(block.world.first[forced] >= 0, ~arrested)
    assert recorder.refusals == {forced: int(arrested.sum())}
    refused = 0
    for k in range(400):
        t = start_timeline(scenario, 3, k)
        run_timeline(scenario, 3, t, plan)
        refused += len(t.refused)
    assert refused == int(arrested.sum()) > 100


# -- robustness of derived quantities ----------------------------------------------------------


def test_a_long_derived_chain_loads_and_runs_in_both_kernels(tmp_path: Path) -> None:
    chain = ["derived:", '  - {id: d0, expr: "turmoil + 1"}']
    chain += [f'  - {{id: d{i}, expr: "d{i - 1} * 0.999 + 0.001"}}' for i in range(1, 1200)]
    events = "\n".join(chain) + (
        '\nevents:\n  - {id: e, label: e, hazard: "clip(d1199 / 10, 0, 1)", once: false,'
        ' effects: {turmoil: "turmoil + 0.5"}}\n'
        'outcomes:\n  - {id: o, label: o, expr: "d1199"}\n'
    )
    started = time.perf_counter()
    scenario = load(tmp_path, events)
    assert vector_logs(scenario, 1, 50) == reference_run(scenario, 1, 50)
    assert time.perf_counter() - started < 60


def test_a_doubling_derived_dag_neither_hangs_nor_blows_up(tmp_path: Path) -> None:
    dag = ["derived:", '  - {id: d0, expr: "turmoil + 1"}']
    dag += [f'  - {{id: d{i}, expr: "(d{i - 1} + d{i - 1}) / 2"}}' for i in range(1, 80)]
    events = "\n".join(dag) + (
        '\nevents:\n  - {id: e, label: e, hazard: "clip(d79 / 10, 0, 1)", once: false,'
        ' effects: {turmoil: "turmoil + 0.5"}}\n'
    )
    started = time.perf_counter()
    scenario = load(tmp_path, events)
    assert len(scenario.derived_table) == 80
    assert vector_logs(scenario, 1, 50) == reference_run(scenario, 1, 50)
    assert time.perf_counter() - started < 60


def test_a_derived_cycle_is_an_error_not_a_crash(tmp_path: Path) -> None:
    cycle = ["derived:"] + [f'  - {{id: d{i}, expr: "d{(i + 1) % 1500} + 1"}}' for i in range(1500)]
    found = problems(tmp_path, "\n".join(cycle) + "\n")
    assert len(found) == 1 and "derived quantities form a cycle: d0 -> d1 -> d2" in found[0]


def _walk(node):  # type: ignore[no-untyped-def]
    from kremlinology.scenario.expressions import walk

    return walk(node)


# -- interventions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("do(famine @ 2000-06) + block(famine)", "cannot be both forced and blocked at 2000-06"),
        ("block(famine @ 2000-05) + do(famine @ 2000-06)", "forced and blocked"),
        (
            "choose(discovered, crushed) + choose(discovered, escaped)",
            "cannot take both 'crushed' and 'escaped'",
        ),
        ("set(unrest = 1 @ 2000-03) + set(unrest = 2 @ 2000-03)", "cannot take two values"),
        ("no_plot + do(plot @ 2000-04)", "'plot' cannot be both forced and blocked"),
    ],
)
def test_contradictory_interventions_are_refused(testbed: Scenario, query: str, why: str) -> None:
    from kremlinology.counterfactual.catalogue import resolve_query
    from kremlinology.counterfactual.interventions import InterventionError

    with pytest.raises(InterventionError, match="contradict each other") as caught:
        resolve_query(query, testbed)
    assert why in str(caught.value)


def test_compatible_interventions_are_accepted(testbed: Scenario) -> None:
    from kremlinology.counterfactual.catalogue import resolve_query

    resolved = resolve_query("block(famine @ 2000-07) + do(famine @ 2000-06)", testbed)
    assert [i.text() for i in resolved.interventions] == [
        "block(famine @ 2000-07)",
        "do(famine @ 2000-06)",
    ]


def test_catalogue_ids_combine_with_plus(testbed: Scenario) -> None:
    from kremlinology.counterfactual.catalogue import QueryError, resolve_query

    resolved = resolve_query("no_plot + early_famine_riot", testbed)
    assert [i.text() for i in resolved.interventions] == [
        "block(plot)",
        "set(unrest = 5 @ 2000-03)",
    ]
    assert resolved.whatif is None
    mixed = resolve_query("early_famine_riot + choose(discovered, escaped)", testbed)
    assert [i.text() for i in mixed.interventions] == [
        "set(unrest = 5 @ 2000-03)",
        "choose(discovered, escaped)",
    ]
    with pytest.raises(QueryError, match="'no_plott' is neither a what-if id nor an intervention"):
        resolve_query("no_plott + early_famine_riot", testbed)


def test_forced_events_out_of_play_are_counted_in_the_admissibility_report(
    tmp_path: Path,
) -> None:
    from kremlinology.counterfactual.query import run_whatif

    scenario = load(tmp_path, IN_PLAY)
    result = run_whatif(scenario, "do(boyar_forced @ 2000-04)", 600, 3, condition=False)
    entry = result.admissibility[0]
    arrested = 1 - result.twin.status["boyar.free"].mean()
    assert entry["not_fired_out_of_play"] == round(arrested * result.twin.kept)
    assert 0.4 < entry["not_fired_out_of_play_share"] < 0.6
    fired = result.twin.whatif.first[scenario.event_index["boyar_forced"]] >= 0
    assert fired.mean() == pytest.approx(1 - arrested)


def test_a_set_on_an_actor_out_of_play_everywhere_is_reported_inert(tmp_path: Path) -> None:
    from kremlinology.counterfactual.query import run_whatif

    always = IN_PLAY.replace('"0.5"\n    effects: {boyar.free', '"1"\n    effects: {boyar.free')
    scenario = load(tmp_path, always)
    inert = run_whatif(scenario, "set(boyar.power = 1 @ 2000-05)", 200, 1, condition=False)
    assert inert.admissibility[0]["inert"] is True
    assert inert.admissibility[0]["why"] == "boyar is out of play at 2000-05 in every timeline"
    freed = run_whatif(scenario, "set(boyar.free = true @ 2000-05)", 200, 1, condition=False)
    assert freed.admissibility[0]["inert"] is False
    live = run_whatif(scenario, "set(tsar.power = 0.1 @ 2000-05)", 200, 1, condition=False)
    assert live.admissibility[0]["inert"] is False


def test_a_nested_template_skips_the_enclosing_variables_values(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """
events:
  - for_each: {winner: men}
    id: "{winner}_purges"
    label: purge
    options:
      - for_each: {rival: men}
        id: "{rival}"
        weight: "{rival}.power"
""",
    )
    assert [[o.id for o in e.options] for e in scenario.events] == [
        ["boyar", "monk"],
        ["tsar", "monk"],
        ["tsar", "boyar"],
    ]


def test_the_json_schema_accepts_templates_and_refuses_malformed_ones() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    from kremlinology.scenario.schema import json_schema

    schema = json_schema()
    assert jsonschema_rs.meta.is_valid(schema)
    validator = jsonschema_rs.validator_for(schema)
    template = {"for_each": {"man": "men", "rival": ["tsar", 3]}, "id": "x_{man}", "label": "x"}
    assert validator.is_valid({"events": [template]})
    assert validator.is_valid({"groups": [{"id": "men", "members": ["tsar"]}]})
    assert validator.is_valid({"attributes": [{"actor": "tsar", "attributes": {"rank": 1}}]})
    option = {"for_each": {"man": "men"}, "id": "{man}"}
    assert validator.is_valid({"events": [{"id": "e", "label": "e", "options": [option]}]})
    assert validator.is_valid({"events": [{"id": "e", "label": "e", "actors": ["mvd.head"]}]})
    assert not validator.is_valid({"events": [{"for_each": ["tsar"], "id": "x", "label": "x"}]})
    assert not validator.is_valid({"events": [{"for_each": {"Man": "men"}, "id": "x"}]})
    assert not validator.is_valid(
        {"actors": [{"for_each": {"m": "men"}, "id": "x", "name": "x", "kind": "person"}]}
    )


def test_the_templated_thaw_files_validate_against_the_json_schema() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    from ruamel.yaml import YAML

    from conftest import REPO
    from kremlinology.scenario.schema import json_schema

    validator = jsonschema_rs.validator_for(json_schema())
    folder = REPO / "src" / "kremlinology" / "scenarios" / "thaw"
    yaml = YAML(typ="safe")
    templated = 0
    for path in sorted(folder.glob("*.yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"))
        assert validator.is_valid(document), path.name
        templated += str(document).count("'for_each'")
    assert templated >= 5  # death hazards, up_, seat_, pbw_ and the plotters' attributes

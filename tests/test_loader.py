"""Scenario loading: every problem with its file:line:col, all at once; hostile files refused."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TESTBED, write_scenario
from kremlinology.scenario.errors import ScenarioError, UnknownScenarioError
from kremlinology.scenario.loader import (
    MAX_FLOW_DEPTH,
    bundled_scenarios,
    load_scenario,
    resolve_scenario,
)

BASE = """\
actors:
  - id: king
    name: The King
    kind: person
    attributes:
      alive: true
      power: {value: 0.5, min: 0, max: 1}
variables:
  - {id: unrest, type: number, initial: 0}
  - {id: mood, type: categorical, values: [calm, angry], initial: calm}
parameters:
  - id: luck
    prior: {dist: beta, a: 2, b: 2}
"""
# BASE has 13 lines, so the first line after it is line 14.


def problems(folder: Path) -> list[str]:
    """Load a scenario that must fail; return its problems as 'line:col: message' (file dropped)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(folder)
    found = []
    for problem in info.value.problems:
        assert Path(problem.position.file).name in (
            "events.yaml",
            "extra.yaml",
            "scenario.yaml",
            "post.csv",
        )
        message = problem.message.replace(f"{folder.parent}/", "")
        found.append(f"{problem.position.line}:{problem.position.col}: {message}")
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return found


def events_file(tmp_path: Path, text: str, **kwargs: str) -> Path:
    return write_scenario(tmp_path / "s", {"events.yaml": BASE + text}, **kwargs)


CASES = {
    "unknown name": (
        'events:\n  - id: e1\n    label: x\n    when: "unrest > nope"\n',
        ["17:21: unknown name 'nope'"],
    ),
    "unknown name, single quotes": (
        "events:\n  - id: e1\n    label: x\n    hazard: 'unrest + nope'\n",
        ["17:23: unknown name 'nope'"],
    ),
    "unknown name in a flow mapping": (
        'events:\n  - {id: e1, label: x, when: "unrest > nope"}\n',
        ["15:40: unknown name 'nope'"],
    ),
    "unknown name in a folded block": (
        "events:\n  - id: e1\n    label: x\n    when: >\n      unrest > 1 and\n      nope\n",
        ["19:7: unknown name 'nope'"],
    ),
    "unknown name in a literal block": (
        "events:\n  - id: e1\n    label: x\n    when: |\n      unrest > 1 and\n        nope\n",
        ["19:9: unknown name 'nope'"],
    ),
    "unknown name in a plain scalar over two lines": (
        "events:\n  - id: e1\n    label: x\n    when: unrest > 1 and\n      nope\n",
        ["18:7: unknown name 'nope'"],
    ),
    "unknown actor": (
        "events:\n  - id: e1\n    label: x\n    actors: [king, queen]\n",
        ["17:20: unknown actor 'queen'"],
    ),
    "unknown trigger source": (
        "events:\n  - id: e1\n    label: x\n    trigger: {on: e9}\n",
        ["17:19: unknown event 'e9'"],
    ),
    "wrong types": (
        "events:\n  - id: e1\n    label: x\n    once: maybe\n",
        ["17:11: 'once': input should be a valid boolean, unable to interpret input"],
    ),
    "a condition that is a number": (
        'events:\n  - id: e1\n    label: x\n    when: "unrest + 1"\n',
        ["17:11: must be a condition (boolean), not a number"],
    ),
    "a hazard that is a category": (
        'events:\n  - id: e1\n    label: x\n    hazard: "mood"\n',
        ["17:13: must be a number, not a categorical"],
    ),
    "bad month": (
        "events:\n  - id: e1\n    label: x\n    window: [2000-13, 2000-02]\n",
        ["17:14: '2000-13' has month 13; months run from 01 to 12"],
    ),
    "not a month": (
        "events:\n  - id: e1\n    label: x\n    window: [March, 2000-02]\n",
        ["17:14: 'window': 'March' is not a month (YYYY-MM)"],
    ),
    "months out of the span": (
        "events:\n  - id: e1\n    label: x\n    window: [1999-12, 2001-01]\n",
        [
            "17:14: month is outside the scenario's span (2000-01 to 2000-12)",
            "17:23: month is outside the scenario's span (2000-01 to 2000-12)",
        ],
    ),
    "window backwards": (
        "events:\n  - id: e1\n    label: x\n    window: [2000-05, 2000-02]\n",
        ["17:13: window ends before it starts"],
    ),
    "outcome read after the end": (
        'outcomes:\n  - {id: o, label: o, expr: "unrest", at: 2002-01}\n',
        ["15:43: month is outside the scenario's span (2000-01 to 2000-12)"],
    ),
    "fact out of the span": (
        'facts:\n  - {id: f, label: f, month: 1999-01, condition: "true"}\n',
        ["15:30: month is outside the scenario's span (2000-01 to 2000-12)"],
    ),
    "trigger cycle": (
        "events:\n  - id: a\n    label: x\n    trigger: {on: b}\n"
        "  - id: b\n    label: y\n    trigger: {on: a, delay: 1}\n",
        ["17:19: triggered events form a cycle: a -> b -> a"],
    ),
    "self trigger": (
        "events:\n  - id: a\n    label: x\n    trigger: {on: a, delay: 2}\n",
        ["17:19: triggered events form a cycle: a -> a"],
    ),
    "hazard and trigger": (
        "events:\n  - id: a\n    label: x\n    hazard: 0.1\n    trigger: {on: b}\n"
        "  - id: b\n    label: y\n",
        ["17:5: give a hazard or a trigger, not both"],
    ),
    "duplicate event": (
        "events:\n  - id: e1\n    label: x\n  - id: e1\n    label: y\n",
        ["17:9: duplicate event id 'e1' (first defined at s/events.yaml:15:9)"],
    ),
    "duplicate name across sections": (
        'derived:\n  - {id: unrest, expr: "1"}\n',
        ["15:10: duplicate name id 'unrest' (first defined at s/events.yaml:9:10)"],
    ),
    "duplicate option": (
        "events:\n  - id: e1\n    label: x\n    options:\n      - {id: o}\n      - {id: o}\n",
        ["19:14: duplicate option id 'o'"],
    ),
    "unknown key": (
        "events:\n  - id: e1\n    label: x\n    hazzard: 0.1\n",
        ["17:5: unknown key 'hazzard'"],
    ),
    "missing key": (
        "events:\n  - id: e1\n    hazard: 0.1\n",
        ["15:5: 'label' is required"],
    ),
    "unknown section": (
        "evnts:\n  - id: e1\n",
        [
            "14:1: unknown section 'evnts' (actors, groups, attributes, variables, parameters, "
            "derived, events, "
            "outcomes, facts, whatifs)"
        ],
    ),
    "section not a list": (
        "events: {id: e1}\n",
        ["14:9: section 'events' must be a list"],
    ),
    "bad id": (
        "events:\n  - id: Bad-Id\n    label: x\n",
        [
            "15:9: 'id': 'Bad-Id' is not an id (lower-case letters, digits and _ , "
            "starting with a letter)"
        ],
    ),
    "effect targets": (
        "events:\n  - id: e1\n    label: x\n    effects: {luck: 1, nobody: 2, mood: furious}\n",
        [
            "17:15: effect target 'luck': a parameter cannot be assigned",
            "17:24: effect target 'nobody': unknown name",
            "17:41: unknown name 'furious'",
        ],
    ),
    "assigning a category to a number": (
        "events:\n  - id: e1\n    label: x\n    effects: {unrest: mood}\n",
        ["17:23: 'unrest' is a number; cannot assign a categorical"],
    ),
    "derived cycle": (
        'derived:\n  - {id: x, expr: "y + 1"}\n  - {id: y, expr: "x * 2"}\n',
        ["16:20: derived quantities form a cycle: x -> y -> x"],
    ),
    "malformed YAML": (
        "events:\n  - id: e1\n    label: [x\n",
        ["17:1: YAML error: expected ',' or ']', but got '<stream end>'"],
    ),
    "duplicate key": (
        "events:\n  - id: e1\n    label: x\n    label: y\n",
        ['17:5: YAML error: found duplicate key "label" with value "y" (original value: "x")'],
    ),
    "tab indentation": (
        "events:\n\t- id: e1\n",
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_has_its_position(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    found = problems(events_file(tmp_path, text))
    if expected is None:
        assert len(found) == 1 and "YAML error" in found[0]
    else:
        assert found == expected


# Cases in a second file of their own (their sections would clash with BASE's); lines from 1.
EXTRA_CASES = {
    "unknown attribute key": (
        "actors:\n  - id: queen\n    name: Q\n    kind: person\n"
        "    attributes:\n      power: {value: 1, maximum: 2}\n",
        ["6:7: unknown key 'maximum'"],
    ),
    "categorical initial value": (
        "variables:\n  - {id: tone, type: categorical, values: [a, b], initial: c}\n",
        ["2:60: 'tone': 'c' is not one of its values"],
    ),
    "initial out of range": (
        "variables:\n  - {id: level, type: number, initial: 5, min: 0, max: 1}\n",
        ["2:40: 'level': initial value 5.0 is outside its range"],
    ),
    "categorical prior": (
        "parameters:\n  - id: side\n    prior: {dist: categorical, values: [a, b], probs: [0.5]}\n",
        ["3:12: prior: values and probs differ in length"],
    ),
}


@pytest.mark.parametrize("case", list(EXTRA_CASES))
def test_problems_in_a_second_file(tmp_path: Path, case: str) -> None:
    text, expected = EXTRA_CASES[case]
    folder = write_scenario(tmp_path / "s", {"events.yaml": BASE, "extra.yaml": text})
    assert problems(folder) == expected


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        "events:\n"
        "  - id: e1\n"  # 15
        "    label: x\n"
        '    when: "nope > 1"\n'  # 17: unknown name
        "  - id: e1\n"  # 18: duplicate id
        "    label: y\n"
        "    window: [2000-01, 2003-01]\n"  # 20: out of span
        "    effects: {mood: furious}\n"  # 21: not a category
        "outcomes:\n"
        '  - {id: o, label: o, expr: "luck +"}\n'  # 23: syntax error
    )
    assert problems(events_file(tmp_path, text)) == [
        "17:12: unknown name 'nope'",
        "18:9: duplicate event id 'e1' (first defined at s/events.yaml:15:9)",
        "20:23: month is outside the scenario's span (2000-01 to 2000-12)",
        "21:21: unknown name 'furious'",
        "23:36: syntax error: invalid syntax",
    ]


def test_shape_problems_come_first(tmp_path: Path) -> None:
    # Problems of shape (unknown or missing keys, wrong types) are all reported together, from
    # every file; names and expressions are checked once the shapes are right, so that an item
    # that failed to validate causes no follow-on "unknown name" problems.
    folder = write_scenario(
        tmp_path / "s",
        {
            "a.yaml": "events:\n  - id: e1\n    label: x\n    once: sometimes\n",
            "b.yaml": "events:\n  - id: e2\n    label: y\n    bogus: 1\n    when: nope\n",
        },
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(folder)
    found = [(Path(p.position.file).name, p.position.line, p.message) for p in info.value.problems]
    assert found == [
        ("a.yaml", 4, "'once': input should be a valid boolean, unable to interpret input"),
        ("b.yaml", 4, "unknown key 'bogus'"),
    ]


def test_non_utf8_file(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {})
    (folder / "events.yaml").write_bytes(b"events:\n  - id: \xff\xfe\n")
    assert problems(folder) == ["2:9: file is not UTF-8 text (byte 0xff at offset 16)"]


def test_empty_content_file_is_fine_but_an_empty_manifest_is_not(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {"events.yaml": "", "more.yaml": "# nothing\n"})
    scenario = load_scenario(folder)
    assert scenario.events == [] and scenario.months == 12
    (folder / "scenario.yaml").write_text("")
    assert problems(folder) == ["1:1: the manifest must be a mapping"]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (
            "name: x\nversion: 1.0.0\ntitle: t\nstart: March 2000\nend: 2000-12\n",
            ["4:8: 'start': 'March 2000' is not a month (YYYY-MM)"],
        ),
        (
            "name: x\nversion: 1.0.0\ntitle: t\nstart: 2000-05\nend: 2000-01\n",
            ["5:6: end is before start"],
        ),
        ("name: x\nversion: 1.0.0\nstart: 2000-01\nend: 2000-02\n", ["1:1: 'title' is required"]),
        (
            "name: x\nversion: 1.0.0\ntitle: t\nstart: 2000-01\nend: 2000-02\ncolour: red\n",
            ["6:1: unknown key 'colour'"],
        ),
        ("- name: x\n", ["1:1: the manifest must be a mapping"]),
    ],
)
def test_manifest_problems(tmp_path: Path, manifest: str, expected: list[str]) -> None:
    folder = write_scenario(tmp_path / "s", {})
    (folder / "scenario.yaml").write_text(manifest)
    assert problems(folder) == expected


def test_missing_posterior_file(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s", {"events.yaml": BASE}, manifest_extra="posterior: post.csv\n"
    )
    assert problems(folder) == ["6:12: posterior file 'post.csv' is missing"]


def test_posterior_file_problems(tmp_path: Path) -> None:
    folder = write_scenario(
        tmp_path / "s", {"events.yaml": BASE}, manifest_extra="posterior: post.csv\n"
    )
    (folder / "post.csv").write_text("other\n0.5\n")
    assert problems(folder) == ["6:12: posterior lacks parameters: luck"]
    (folder / "post.csv").write_text("luck\nhigh\n")
    assert problems(folder) == [
        "6:12: posterior has a malformed value (line 2: 'high' is not a number)"
    ]
    (folder / "post.csv").write_text("luck\n")
    assert problems(folder) == ["1:1: posterior file has no samples"]
    (folder / "post.csv").write_text("luck\n0.25\n0.75\n")
    scenario = load_scenario(folder)
    assert scenario.posterior is not None and scenario.posterior.tolist() == [[0.25], [0.75]]


def test_unreadable_content_file(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {})
    (folder / "events.yaml").mkdir()  # a folder where a file should be
    (found,) = problems(folder)
    assert found == "1:1: refused: a folder, not a regular file"
    (folder / "events.yaml").rmdir()
    (folder / "events.yaml").symlink_to(folder / "nowhere.yaml")
    (found,) = problems(folder)
    assert found.startswith("1:1: cannot read file")


def test_unknown_scenarios(tmp_path: Path) -> None:
    with pytest.raises(UnknownScenarioError, match=r"available: .*testbed"):
        load_scenario("no_such_scenario")
    with pytest.raises(UnknownScenarioError, match="no such scenario folder"):
        load_scenario(str(tmp_path / "missing" / "folder"))
    with pytest.raises(UnknownScenarioError, match=r"no scenario\.yaml"):
        load_scenario(tmp_path)
    assert "testbed" in bundled_scenarios()
    assert resolve_scenario(TESTBED / "scenario.yaml") == TESTBED
    assert load_scenario("testbed").name == "testbed"


def test_testbed_loads_with_its_identity() -> None:
    scenario = load_scenario(TESTBED)
    assert scenario.describe()["name"] == "testbed"
    assert len(str(scenario.describe()["sha256"])) == 64
    assert [e.id for e in scenario.events][:2] == ["plot", "discovered"]


def test_delay_zero_trigger_moves_after_its_source(tmp_path: Path) -> None:
    folder = events_file(
        tmp_path,
        "events:\n"
        "  - {id: reaction, label: r, trigger: {on: cause}}\n"
        "  - {id: other, label: o, hazard: 0.5}\n"
        "  - {id: cause, label: c, hazard: 0.5}\n"
        "  - {id: late, label: l, trigger: {on: cause, delay: 1}}\n",
    )
    scenario = load_scenario(folder)
    assert [e.id for e in scenario.events] == ["other", "cause", "reaction", "late"]


# -- hostile files ----------------------------------------------------------------------------


def refused_quickly(folder: Path, seconds: float = 5.0) -> ScenarioError:
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(folder)
    assert time.perf_counter() - started < seconds
    return info.value


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    folder = write_scenario(tmp_path / "s", {"events.yaml": "\n".join(lines) + "\n"})
    error = refused_quickly(folder)
    assert "aliases" in str(error)


def test_billion_laughs_inside_a_section_is_refused(tmp_path: Path) -> None:
    text = BASE + "events:\n  - id: e1\n    label: x\n    effects: &e0 {unrest: '1'}\n"
    text += "    sources: &s0 ['doc:x', 'doc:y', 'doc:z']\n"
    lines = ["derived:"]
    lines.append("  - {id: d0, expr: '1', label: &l0 [x, x, x, x, x, x, x, x]}")
    for i in range(1, 9):
        refs = ", ".join([f"*l{i - 1}"] * 8)
        lines.append(f"  - {{id: d{i}, expr: '1', label: &l{i} [{refs}]}}")
    folder = write_scenario(tmp_path / "s", {"events.yaml": text + "\n".join(lines) + "\n"})
    refused_quickly(folder)


def test_small_aliases_are_fine(tmp_path: Path) -> None:
    text = BASE + (
        "events:\n"
        "  - id: e1\n    label: x\n    effects: &calm {unrest: 'unrest + 1'}\n"
        "  - id: e2\n    label: y\n    effects: *calm\n"
    )
    scenario = load_scenario(events_file(tmp_path, text[len(BASE) :]))
    assert [len(e.effects) for e in scenario.events] == [1, 1]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "{" * 5_000 + "}" * 5_000,
        "a: " + "[" * (MAX_FLOW_DEPTH + 1) + "]" * (MAX_FLOW_DEPTH + 1),
        "- " * 20_000 + "x",
        "".join(" " * i + f"k{i}:\n" for i in range(3_000)),
        "a: &a [*a]\n",
        "&a a: b\n",
        "a: *nothing\n",
        "!!python/object/apply:os.system ['echo hi']\n",
        "events: !!python/name:os.system\n",
        "%YAML 9.9\n---\na: 1\n",
        "a: 1\n---\nb: 2\n",
        "\t\x00\x01",
        "? [a, b]\n: c\n",
        "events:\n  - <<: {id: e1}\n    label: x\n",
    ],
)
def test_hostile_yaml_is_refused_quickly(tmp_path: Path, text: str) -> None:
    folder = write_scenario(tmp_path / "s", {"events.yaml": text})
    started = time.perf_counter()
    with contextlib.suppress(ScenarioError):
        load_scenario(folder)
    assert time.perf_counter() - started < 5.0


def test_deep_flow_nesting_reports_its_position(tmp_path: Path) -> None:
    text = "events:\n  - id: e1\n    label: " + "[" * 200 + "]" * 200 + "\n"
    folder = write_scenario(tmp_path / "s", {"events.yaml": text})
    (found,) = problems(folder)
    assert found == f"3:{12 + MAX_FLOW_DEPTH}: YAML is nested too deeply (more than 100 levels)"


def test_brackets_in_strings_and_comments_do_not_count(tmp_path: Path) -> None:
    deep = "[" * 150
    text = BASE + f"events:\n  - id: e1  # {deep}\n    label: '{deep}'\n    narrate: \"{deep}\"\n"
    scenario = load_scenario(events_file(tmp_path, text[len(BASE) :]))
    assert scenario.events[0].label == deep


# -- fuzzing ----------------------------------------------------------------------------------


def load_or_refuse(files: dict[str, str | bytes], manifest: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = write_scenario(Path(name) / "s", {})
        if manifest is not None:
            (folder / "scenario.yaml").write_text(manifest, encoding="utf-8")
        for file, content in files.items():
            path = folder / file
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        started = time.perf_counter()
        try:
            load_scenario(folder)
        except ScenarioError as error:
            assert error.problems
            for problem in error.problems:
                assert problem.position.line >= 1 and problem.position.col >= 1
        assert time.perf_counter() - started < 5.0
        shutil.rmtree(folder)


@settings(max_examples=150)
@given(content=st.binary(max_size=400))
def test_random_bytes(content: bytes) -> None:
    load_or_refuse({"events.yaml": content})


YAML_TOKENS = [
    "events:",
    "actors:",
    "variables:",
    "parameters:",
    "outcomes:",
    "facts:",
    "derived:",
    "- ",
    "  ",
    "\n",
    ": ",
    "id: e1",
    "label: x",
    "hazard: ",
    "when: ",
    "trigger: {on: e1}",
    "window: [2000-01, 2000-02]",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!int ",
    "!!binary ",
    "|",
    ">",
    "'",
    '"',
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "?",
    "%",
    "@",
    "`",
    "---",
    "...",
    "0.5",
    "true",
    "null",
    "~",
    "2000-13",
    "1e999",
    "nan",
    "unrest",
    "__import__('os')",
    "\t",
    "\\",
    "kind: person",
    "name: n",
    "attributes:",
    "{value: 1, min: 2, max: 0}",
    "values: actors",
    "type: number",
    "initial: 0",
    "prior: {dist: beta, a: 0, b: -1}",
    "options:",
    "effects:",
]


@settings(max_examples=200)
@given(parts=st.lists(st.sampled_from(YAML_TOKENS), max_size=80))
def test_random_yaml_token_soup(parts: list[str]) -> None:
    load_or_refuse({"events.yaml": "".join(parts)})


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["e1", "king", "2000-01", "2000-13", "unrest > 1", "beta", "person", "actors"]),
)
KEYS = st.sampled_from(
    [
        "id",
        "label",
        "name",
        "kind",
        "hazard",
        "when",
        "trigger",
        "on",
        "delay",
        "window",
        "effects",
        "options",
        "weight",
        "once",
        "actors",
        "attributes",
        "value",
        "values",
        "min",
        "max",
        "type",
        "initial",
        "prior",
        "dist",
        "a",
        "b",
        "low",
        "high",
        "probs",
        "expr",
        "at",
        "month",
        "tolerance",
        "condition",
        "split",
        "sources",
        "narrate",
        "unrest",
    ]
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=30,
)


def to_yaml(value: object, indent: int = 0) -> str:
    """A small YAML writer (flow style), so the fuzzer does not depend on a YAML dumper."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {to_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


@settings(max_examples=200)
@given(
    sections=st.dictionaries(
        st.sampled_from(
            [
                "actors",
                "variables",
                "parameters",
                "derived",
                "events",
                "outcomes",
                "facts",
                "whatifs",
                "other",
            ]
        ),
        st.lists(DOCUMENTS, max_size=4),
        max_size=4,
    ),
    manifest=st.one_of(st.none(), DOCUMENTS),
)
def test_random_structured_files(sections: dict[str, list[object]], manifest: object) -> None:
    body = "".join(f"{name}: {to_yaml(items)}\n" for name, items in sections.items())
    load_or_refuse(
        {"events.yaml": body},
        None if manifest is None else to_yaml(manifest),
    )

"""Hostile scenario folders (issue 12): special files, escapes, encodings, numbers, sizes.

Each case the fuzzing found has a test here; each must end in a clear ``file:line:col: message``
error (or load), never a traceback, a hang or a read of something outside the folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import write_scenario
from kremlinology import limits
from kremlinology.scenario import loader
from kremlinology.scenario.errors import ScenarioError
from kremlinology.scenario.files import read_file
from kremlinology.scenario.loader import load_scenario

VARIABLES = "variables:\n  - {id: a, type: number, initial: 1}\n"
PARAMETER = "parameters:\n  - id: p\n    prior: {dist: uniform, low: 0, high: 1}\n"


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it takes too long."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (a hang)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def refusal(folder: Path) -> list[str]:
    """The problems of a folder that must be refused, as 'file:line:col: message' lines."""

    def load() -> None:
        load_scenario(folder)

    with pytest.raises(ScenarioError) as info:
        within(10, load)
    lines = [
        f"{Path(p.position.file).name}:{p.position.line}:{p.position.col}: {p.message}"
        for p in info.value.problems
    ]
    assert lines, "a refusal names at least one problem"
    return lines


def scenario(tmp_path: Path, files: dict[str, str] | None = None, extra: str = "") -> Path:
    return write_scenario(tmp_path / "s", files or {"world.yaml": VARIABLES}, manifest_extra=extra)


def test_a_symlink_loop_is_an_error(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    (folder / "loop.yaml").symlink_to("loop.yaml")
    assert refusal(folder) == ["loop.yaml:1:1: cannot read file: a symlink loop"] or refusal(
        folder
    ) == ["loop.yaml:1:1: cannot read file: too many levels of symbolic links"]


def test_a_two_link_loop_is_an_error(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    (folder / "a.yaml").symlink_to("b.yaml")
    (folder / "b.yaml").symlink_to("a.yaml")
    (found,) = refusal(folder)
    assert found.startswith("a.yaml:1:1: cannot read file:")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_links_to_devices_are_refused_without_reading(tmp_path: Path, device: str) -> None:
    folder = scenario(tmp_path)
    (folder / "events.yaml").symlink_to(device)
    assert refusal(folder) == [
        "events.yaml:1:1: refused: the file links outside the scenario folder"
    ]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_even_when_named_directly(device: str) -> None:
    with pytest.raises(ScenarioError, match="a character device, not a regular file"):
        within(5, lambda: read_file(Path(device)))


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    os.mkfifo(folder / "events.yaml")
    assert refusal(folder) == ["events.yaml:1:1: refused: a FIFO (named pipe), not a regular file"]


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    outside = tmp_path / "outside.yaml"
    outside.write_text(VARIABLES.replace("id: a", "id: b"))
    (folder / "events.yaml").symlink_to(outside)
    assert refusal(folder) == [
        "events.yaml:1:1: refused: the file links outside the scenario folder"
    ]
    (folder / "events.yaml").unlink()
    (folder / "events.yaml").symlink_to("../outside.yaml")
    assert refusal(folder) == [
        "events.yaml:1:1: refused: the file links outside the scenario folder"
    ]


def test_a_link_inside_the_folder_is_followed(tmp_path: Path) -> None:
    folder = scenario(tmp_path, {"world.yml.in": VARIABLES})
    (folder / "world.yaml").symlink_to("world.yml.in")
    assert [v.id for v in load_scenario(folder).variables] == ["a"]


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    with open(folder / "huge.yaml", "wb") as handle:
        handle.truncate(10**11)  # sparse: 100 GB that reading would never finish
    assert refusal(folder) == [
        "huge.yaml:1:1: file is larger than 0.5 MB (the most a scenario reads)"
    ]


def test_the_scenario_total_is_bounded(tmp_path: Path) -> None:
    padding = "# " + "x" * 997 + "\n"
    files = {
        f"f{i}.yaml": VARIABLES.replace("id: a", f"id: a{i}") + padding * 450 for i in range(5)
    }
    (found,) = refusal(scenario(tmp_path, files))
    assert found == "f4.yaml:1:1: the scenario's YAML files hold more than 2 MB"


def test_bad_utf8_is_positioned(tmp_path: Path) -> None:
    folder = scenario(tmp_path)
    (folder / "events.yaml").write_bytes("events:\n  - id: é\n    label: \xff".encode("latin-1"))
    (found,) = refusal(folder)
    assert found == "events.yaml:2:9: file is not UTF-8 text (byte 0xe9 at offset 16)"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("/etc/hostname", "'/etc/hostname' is an absolute path; name a file inside the scenario"),
        ("../post.csv", "'../post.csv' climbs out of the scenario folder ('..')"),
        ("fit/../../post.csv", "'fit/../../post.csv' climbs out of the scenario folder ('..')"),
        ("C:/post.csv", "'C:/post.csv' is an absolute path; name a file inside the"),
    ],
)
def test_posterior_paths_stay_inside(tmp_path: Path, written: str, message: str) -> None:
    (tmp_path / "post.csv").write_text("p\n0.5\n")
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, f'posterior: "{written}"\n')
    (found,) = refusal(folder)
    assert found.startswith(f"scenario.yaml:6:12: {message}")


def test_a_posterior_link_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("p\n0.5\n")
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, "posterior: post.csv\n")
    (folder / "post.csv").symlink_to(tmp_path / "secret.csv")
    assert refusal(folder) == ["post.csv:1:1: refused: the file links outside the scenario folder"]


def test_a_posterior_in_a_subfolder_loads(tmp_path: Path) -> None:
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, "posterior: fit/post.csv\n")
    (folder / "fit").mkdir()
    (folder / "fit" / "post.csv").write_text("p\n0.25\n0.5\n")
    assert load_scenario(folder).posterior.tolist() == [[0.25], [0.5]]  # type: ignore[union-attr]


def test_a_posterior_that_is_not_utf8_is_positioned(tmp_path: Path) -> None:
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, "posterior: post.csv\n")
    (folder / "post.csv").write_bytes(b"p\n0.5\n0.\xff\n")
    assert refusal(folder) == ["post.csv:3:3: file is not UTF-8 text (byte 0xff at offset 8)"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"p\nnan\n", "line 2, 'p': NaN is not a number a scenario may use"),
        (b"p\n0.5\n-inf\n", "line 3, 'p': infinity is not a number a scenario may use"),
        (b"p\n1e400\n", "line 2, 'p': infinity is not a number a scenario may use"),
        (b"p,q\n0.5\n", "line 2 has no value for 'p'"),
    ],
)
def test_posterior_values_must_be_finite(tmp_path: Path, body: bytes, reason: str) -> None:
    header = body.split(b"\n")[0].decode()
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, "posterior: post.csv\n")
    (folder / "post.csv").write_bytes(body if header != "p,q" else b"q,p\n0.5\n")
    assert refusal(folder) == [f"scenario.yaml:6:12: posterior has a malformed value ({reason})"]


def test_a_posterior_fifo_or_device_is_refused(tmp_path: Path) -> None:
    folder = scenario(tmp_path, {"p.yaml": PARAMETER}, "posterior: post.csv\n")
    os.mkfifo(folder / "post.csv")
    assert refusal(folder) == ["post.csv:1:1: refused: a FIFO (named pipe), not a regular file"]


BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            f"variables:\n  - {{id: a, type: number, initial: 0, max: {BIG}}}\n",
            "2:44",
            "number is out of range (beyond ±1e+300)",
        ),
        (
            f"actors:\n  - id: k\n    name: K\n    kind: person\n    attributes:\n"
            f"      power: {{value: 0, min: 0, max: {BIG}}}\n",
            "6:38",
            "number is out of range (beyond ±1e+300)",
        ),
        (
            "variables:\n  - {id: a, type: number, initial: .nan}\n",
            "2:36",
            "NaN is not a number a scenario may use",
        ),
        (
            "variables:\n  - {id: a, type: number, initial: 0, min: -.inf}\n",
            "2:44",
            "infinity is not a number a scenario may use",
        ),
        (
            "parameters:\n  - id: p\n    prior: {dist: uniform, low: 0, high: .inf}\n",
            "3:42",
            "infinity is not a number a scenario may use",
        ),
        (
            'variables:\n  - {id: a, type: number, initial: 0, max: "inf"}\n',
            "2:44",
            "'max': input should be a finite number",
        ),
        (
            "events:\n  - {id: e, label: e, hazard: 1e400}\n",
            "2:31",
            "infinity is not a number a scenario may use",
        ),
    ],
)
def test_numeric_edge_cases_are_load_errors(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    assert refusal(scenario(tmp_path, {"world.yaml": text})) == [f"world.yaml:{where}: {message}"]


def test_a_huge_duplicated_value_is_cut_in_messages(tmp_path: Path) -> None:
    big = "Z" * 200_000
    lines = ["variables:"]
    lines += [
        f"  - {{id: v{i}, type: categorical, values: [x, y], initial: "
        + (f"&big {big}}}" if i == 0 else "*big}")
        for i in range(30)
    ]
    found = refusal(scenario(tmp_path, {"world.yaml": "\n".join(lines) + "\n"}))
    assert len(found) == 30
    assert all(len(line) <= len("world.yaml:31:5: ") + limits.MAX_MESSAGE_CHARS for line in found)
    assert found[0].startswith("world.yaml:2:58: 'v0': 'ZZZZ") and "more characters)" in found[0]


def test_too_many_problems_are_counted_not_listed(tmp_path: Path) -> None:
    text = "variables:\n" + "".join(
        f"  - {{id: v{i}, type: number, initial: .nan}}\n" for i in range(limits.MAX_PROBLEMS + 50)
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(tmp_path, {"world.yaml": text}))
    assert len(info.value.problems) == limits.MAX_PROBLEMS and info.value.more == 50
    assert str(info.value).endswith("... and 50 more problems")


def test_too_many_items_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_EXPANDED_ITEMS", 30)  # the real bound takes long to parse
    rows = [f"  - {{id: v{i}, type: number, initial: 0}}" for i in range(31)]
    first = "variables:\n" + "\n".join(rows[:20]) + "\n"
    second = "variables:\n" + "\n".join(rows[20:]) + "\n"
    found = refusal(scenario(tmp_path, {"a.yaml": first, "b.yaml": second}))
    assert found == ["b.yaml:12:5: the scenario holds more than 30 items"]
    assert len(load_scenario(scenario(tmp_path / "fits", {"a.yaml": first})).variables) == 20


def test_a_span_of_centuries_is_refused(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", {"w.yaml": VARIABLES}, start="0001-01", end="9999-12")
    assert refusal(folder) == ["scenario.yaml:5:6: the scenario spans more than 2,400 months"]


@pytest.mark.parametrize("expr", ["Dissent == mood", "mood == Dissent", "Dissent != mood"])
def test_a_name_starting_with_d_is_not_taken_for_a_date(tmp_path: Path, expr: str) -> None:
    text = (
        "variables:\n  - {id: mood, type: categorical, values: [calm, angry], initial: calm}\n"
        f'outcomes:\n  - {{id: o, label: o, expr: "{expr}"}}\n'
    )
    (found,) = refusal(scenario(tmp_path, {"world.yaml": text}))
    col = 30 + expr.index("Dissent")  # the same error whichever side the name is on
    assert found == f"world.yaml:4:{col}: unknown name 'Dissent'"


def test_dates_and_d_categories_still_compile(tmp_path: Path) -> None:
    text = (
        "variables:\n  - {id: mood, type: categorical, values: [calm, dull], initial: dull}\n"
        "outcomes:\n"
        '  - {id: o, label: o, expr: "dull == mood"}\n'
        '  - {id: p, label: p, expr: "mood == dull and 2000-03 <= month"}\n'
    )
    loaded = load_scenario(scenario(tmp_path, {"world.yaml": text}))
    assert [o.id for o in loaded.outcomes] == ["o", "p"]


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
def test_a_hostile_ledger_file_is_refused(tmp_path: Path, kind: str) -> None:
    from kremlinology.analysis.fidelity import read_facts

    ledger = tmp_path / "facts.csv"
    if kind == "fifo":
        os.mkfifo(ledger)
    elif kind == "zero":
        ledger.symlink_to("/dev/zero")
    else:
        with open(ledger, "wb") as handle:
            handle.truncate(limits.MAX_CSV_BYTES + 1)
    testbed = load_scenario(Path(__file__).parent.parent / "src/kremlinology/scenarios/testbed")
    with pytest.raises(ScenarioError):
        within(10, lambda: read_facts(ledger, testbed))

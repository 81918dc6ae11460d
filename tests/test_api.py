"""The Python API as the README shows it: one vocabulary of DataFrames, displays, compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kremlinology as k
from conftest import REPO, TESTBED
from kremlinology.api import Rows

RUNS = 1500


@pytest.fixture(scope="module")
def testbed():  # type: ignore[no-untyped-def]
    return k.load_scenario(TESTBED)


@pytest.fixture(scope="module")
def answer(testbed):  # type: ignore[no-untyped-def]
    return k.whatif("no_plot", testbed, runs=RUNS, seed=3)


def test_the_package_lists_its_api() -> None:
    names = {
        "load_scenario",
        "simulate",
        "whatif",
        "claim",
        "history",
        "chronicle",
        "report",
        "compare",
        "audit",
    }
    assert names <= set(dir(k))
    for name in names:
        function = getattr(k, name)
        assert callable(function) and function.__doc__, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        k.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_a_simulation_gives_dataframes(testbed) -> None:  # type: ignore[no-untyped-def]
    base = k.simulate(testbed, runs=RUNS, seed=3)
    outcomes, events, timelines = base.outcomes(), base.events(), base.timelines()
    assert isinstance(outcomes, pd.DataFrame) and {"p", "ci_low", "ci_high"} <= set(outcomes)
    assert isinstance(events, pd.DataFrame) and len(timelines) == RUNS
    assert set(timelines["world"]) == {"baseline"} and list(timelines["timeline"]) == list(
        range(RUNS)
    )
    # the share of a fired event, counted from the timelines, is the events table's p
    for event in events.index:
        assert events.loc[event, "p"] == pytest.approx(timelines[f"event:{event}"].notna().mean())
    figure = base.plot()
    assert figure.axes and figure.axes[0].get_xlabel().startswith("share of timelines")
    drivers = base.drivers()
    assert set(drivers["kind"]) == {"parameter"}
    assert (drivers["ci_low"] <= drivers["effect"]).all()
    assert (drivers["effect"] <= drivers["ci_high"]).all()
    # in the testbed only ``zeal`` sets the hazard of the late event that ends the king's rule
    # (events.yaml): it is the king's top driver, lowering it, with an interval clear of zero
    king = drivers[drivers["outcome"] == "king_rules"].iloc[0]
    assert king["factor"] == "zeal" and king["ci_high"] < 0 and bool(king["clear"])


def test_a_whatif_gives_the_same_vocabulary(answer) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(answer.outcomes, Rows) and isinstance(answer.outcomes, list)
    assert json.loads(answer.to_json())["outcomes"] == json.loads(json.dumps(answer.outcomes))
    table = answer.outcomes()
    assert list(table.index) == [row["id"] for row in answer.outcomes]
    assert (table["ci_low"] <= table["delta"] + 1e-12).all()
    twin = answer.twin
    events = answer.events()
    for event in answer.scenario.events:  # counted here from the twin's arrays
        fired = twin.factual.first[event.index] >= 0
        changed = twin.whatif.first[event.index] >= 0
        assert events.loc[event.id, "baseline"] == pytest.approx(fired.mean())
        assert events.loc[event.id, "whatif"] == pytest.approx(changed.mean())
    assert events.loc["plot", "whatif"] == 0.0  # blocked in the what-if world
    timelines = answer.timelines()
    assert len(timelines) == 2 * twin.kept
    assert set(timelines["world"]) == {"baseline", "whatif"}
    whatif = timelines[timelines["world"] == "whatif"]
    assert whatif["event:plot"].isna().all()
    assert list(whatif["timeline"]) == list(twin.timelines)
    first_param = f"param:{answer.scenario.parameters[0].model.id}"
    assert np.allclose(whatif[first_param].to_numpy(), twin.parameters[0])
    figure = answer.plot()
    assert "Baseline against what-if" in figure.texts[0].get_text()
    drivers = answer.drivers()
    assert isinstance(answer.drivers, Rows) and len(drivers) == len(answer.drivers)
    assert not drivers.empty and {"factor", "kind", "effect", "ci_low", "ci_high"} <= set(
        drivers.columns
    )


def test_compare_puts_two_whatifs_side_by_side(testbed, answer) -> None:  # type: ignore[no-untyped-def]
    other = k.whatif("early_famine_riot", testbed, runs=RUNS, seed=3)
    table = k.compare(answer, other).table()
    mine = {row["id"]: row for row in answer.outcomes}
    theirs = {row["id"]: row for row in other.outcomes}
    for ident, row in table.iterrows():
        assert row["delta_a"] == mine[ident]["delta"] and row["delta_b"] == theirs[ident]["delta"]
        assert row["difference"] == pytest.approx(theirs[ident]["delta"] - mine[ident]["delta"])
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    html = k.compare(answer, other)._repr_html_()
    assert "B minus A" in html and "block(plot)" in html
    thaw = k.load_scenario("thaw")
    elsewhere = k.whatif("beria_detects_coup", thaw, runs=200, seed=1)
    with pytest.raises(ValueError, match="different scenarios"):
        k.compare(answer, elsewhere)


def test_results_display_in_a_notebook(testbed, answer) -> None:  # type: ignore[no-untyped-def]
    story = k.chronicle(answer)
    html = story._repr_html_()
    assert html.startswith("<article") and html.count("<p") >= 2
    claim = k.claim("plot", "rebel_crushed", testbed, runs=RUNS, seed=3)
    card = claim._repr_html_()
    assert "necessary (PN)" in card and "sufficient (PS)" in card
    assert re.search(r"\d+%", card) and claim.verdict() in card.replace("&#x27;", "'")
    assert "<table" in answer._repr_html_() and "<table" in answer.outcomes._repr_html_()


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_the_readme_example_runs_as_written() -> None:
    blocks = _python_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README shows no Python"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_the_tour_notebook_runs(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "docs" / "tour.ipynb", as_version=4)
    assert sum(cell.cell_type == "code" for cell in notebook.cells) >= 5
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # a rich display was shown


def test_long_calls_report_their_progress(testbed) -> None:  # type: ignore[no-untyped-def]
    """claim (two twin runs told as one task), history and calibrate say how far they are."""
    from kremlinology.analysis.calibrate import calibrate

    heard: dict[str, list[tuple[int, int]]] = {"claim": [], "history": [], "calibrate": []}
    k.claim(
        "plot",
        "rebel_crushed",
        testbed,
        runs=600,
        seed=3,
        progress=lambda d, t: heard["claim"].append((d, t)),
    )
    k.history(testbed, runs=600, seed=3, progress=lambda d, t: heard["history"].append((d, t)))
    calibrate(
        testbed,
        runs=600,
        seed=3,
        accept=0.1,
        chunk_size=200,
        progress=lambda d, t: heard["calibrate"].append((d, t)),
    )
    for name, reports in heard.items():
        assert reports, name
        done = [d for d, _ in reports]
        assert done == sorted(done) and reports[-1][0] == reports[-1][1], (name, reports)
    assert heard["claim"][-1] == (1200, 1200) and heard["history"][-1] == (600, 600)


def test_a_report_from_python_cuts_its_forum_posts(answer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = k.report(answer, tmp_path / "r", post_size=2_000, image_base="https://example.org/r")
    posts = sorted((folder / "posts").glob("post-*.bbcode"))
    assert posts and all(len(p.read_text(encoding="utf-8")) <= 2_000 for p in posts)
    text = "".join(p.read_text(encoding="utf-8") for p in posts)
    assert "[img]https://example.org/r/" in text

"""Issue 14: what-ifs conditioned on the record up to each timeline's own divergence.

A ``choose`` acts when its event fires in the factual world, so each timeline diverges at that
month and is held to the facts that close before it (``Onset`` in counterfactual.twin).
"""

from __future__ import annotations

import numpy as np
import pytest

import kremlinology as k
from kremlinology.counterfactual.interventions import onset, parse_interventions
from kremlinology.counterfactual.query import run_whatif
from kremlinology.months import parse_month

TESTBED = "src/kremlinology/scenarios/testbed"


@pytest.fixture(scope="module")
def testbed():  # type: ignore[no-untyped-def]
    return k.load_scenario(TESTBED)


def closes(scenario) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([f.month + f.tolerance + 1 for f in scenario.facts])


def test_onset_of_each_kind_of_intervention(testbed) -> None:  # type: ignore[no-untyped-def]
    items = parse_interventions("choose(discovered, escaped) + set(unrest = 5 @ 2000-05)", testbed)
    found = onset(items, testbed)
    assert found.fixed == parse_month("2000-05")
    assert found.events == (testbed.event_index["discovered"],)
    feb, may = parse_month("2000-02"), parse_month("2000-05")
    first = np.array([[-1] * 4 for _ in testbed.events])
    first[testbed.event_index["discovered"]] = [feb, -1, parse_month("2000-10"), -1]
    months = found.months(first, never=testbed.end + 1)
    # The earlier of the set's month and the event's factual firing.
    assert months.tolist() == [feb, may, may, may]
    blocked = onset(parse_interventions("block(plot)", testbed), testbed)
    assert (blocked.fixed, blocked.events) == (testbed.start, ())


def test_choose_is_conditioned_on_the_facts_before_each_timelines_divergence(testbed) -> None:  # type: ignore[no-untyped-def]
    result = run_whatif(testbed, "choose(discovered, escaped)", 3000, 11)
    twin = result.twin
    assert twin.diverges is not None and twin.facts_used is not None
    discovered = testbed.event_index["discovered"]
    fired = twin.factual.first[discovered]
    # Each kept timeline diverges where 'discovered' first fired in fact (never: after the end).
    expected = np.where(fired >= 0, fired, testbed.end + 1)
    assert np.array_equal(twin.diverges, expected)
    # It is held to exactly the facts that close before that month, and they hold (0 allowed).
    used = closes(testbed)[:, None] <= twin.diverges[None, :]
    assert np.array_equal(used.sum(axis=0), twin.facts_used)
    assert twin.tolerance == 0
    assert not (used & ~twin.factual.facts).any()
    # The famine fact (closes 2000-07) binds the timelines diverging from July on, not earlier:
    famine = testbed.event_index["famine"]
    late = twin.diverges >= parse_month("2000-07")
    assert (twin.factual.first[famine][late] >= 0).all()
    early = ~late
    assert 0.3 < (twin.factual.first[famine][early] >= 0).mean() < 0.7  # P(famine) = 0.5
    # The distribution of divergence months is reported.
    months = result.to_dict()["conditioning"]["divergence_months"]
    assert abs(sum(m["share"] for m in months) - 1.0) < 1e-9
    assert len(months) > 3


def test_zhukov_backs_beria_is_conditioned_on_the_facts_before_june_1953() -> None:
    thaw = k.load_scenario("thaw")
    result = run_whatif(thaw, "zhukov_backs_beria", 400, 1)
    twin = result.twin
    assert twin.diverges is not None and twin.facts_used is not None
    june = parse_month("1953-06")
    values, counts = np.unique(twin.diverges, return_counts=True)
    assert int(values[np.argmax(counts)]) == june
    before_june = int((closes(thaw) <= june).sum())
    assert before_june > 5
    assert (twin.facts_used[twin.diverges == june] == before_june).all()
    # Before this change a choose was conditioned on no fact at all.
    assert twin.kept < twin.runs
    used = closes(thaw)[:, None] <= twin.diverges[None, :]
    assert ((used & ~twin.factual.facts).sum(axis=0) <= twin.tolerance).all()

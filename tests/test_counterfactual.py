"""Twin worlds, conditioning, paired effects, claims and query matching on the testbed.

Expected values are worked out by hand from tests/../scenarios/testbed (see test_testbed.py):
- ``plot`` has a monthly hazard of 0.1 over 12 months; ``discovered`` follows it one month later,
  so P(discovered) = 1 - 0.9**11 = 0.68619; its options weigh 3 (crushed) against
  threat - 0.6 + 1 = 0.3 * 2 - 0.6 + 1 = 1 (escaped), so P(crushed | discovered) = 0.75.
- ``famine`` happens in June with probability 0.5, independently of the plot.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import kremlinology as k
from kremlinology.counterfactual.catalogue import QueryError, resolve_query
from kremlinology.counterfactual.interventions import (
    InterventionError,
    divergence_month,
    parse_interventions,
    to_plan,
)
from kremlinology.counterfactual.twin import run_twins
from kremlinology.engine.simulate import run_timelines
from kremlinology.months import parse_month

TESTBED = "src/kremlinology/scenarios/testbed"
P_DISCOVERED = 1 - 0.9**11
P_CRUSHED = P_DISCOVERED * 0.75


@pytest.fixture(scope="module")
def testbed():  # type: ignore[no-untyped-def]
    return k.load_scenario(TESTBED)


def twins(scenario, text, runs=4000, seed=7, condition=True):  # type: ignore[no-untyped-def]
    items = parse_interventions(text, scenario)
    plan = to_plan(items, scenario)
    return run_twins(scenario, plan, divergence_month(items, scenario), runs, seed, condition)


def test_worlds_identical_before_divergence_and_share_draws_after(testbed) -> None:  # type: ignore[no-untyped-def]
    twin = twins(testbed, "block(plot @ 2000-05)", condition=False)
    plot = testbed.event_index["plot"]
    famine = testbed.event_index["famine"]
    d = twin.divergence
    before_f = np.where(twin.factual.first[plot] < d, twin.factual.first[plot], -1)
    before_w = np.where(twin.whatif.first[plot] < d, twin.whatif.first[plot], -1)
    assert np.array_equal(before_f, before_w)
    # The famine does not depend on the plot, so shared draws give the same famine in both worlds.
    assert np.array_equal(twin.factual.first[famine], twin.whatif.first[famine])
    # After the block no new plot starts in the what-if world, while about 1 - 0.9**8 do in fact.
    late = twin.factual.first[plot] >= d
    assert not (twin.whatif.first[plot] >= d).any()
    assert late.mean() > 0.2


def test_no_op_intervention_changes_nothing_exactly(testbed) -> None:  # type: ignore[no-untyped-def]
    result = k.whatif("set(at_war = false @ 2000-03)", testbed, runs=3000, seed=3)
    for row in result.outcomes:
        assert row["delta"] == 0.0
        assert row["changed"] == 0.0
    assert all(p["share"] == 0.0 for p in result.divergence)


def test_paired_interval_covers_the_known_effect(testbed) -> None:  # type: ignore[no-untyped-def]
    """block(plot) removes every crushing: the true change is -P_CRUSHED = -0.51464."""
    covered = 0
    seeds = range(30)
    for seed in seeds:
        result = k.whatif("block(plot)", testbed, runs=1500, seed=seed)
        row = next(r for r in result.outcomes if r["id"] == "rebel_crushed")
        low, high = row["ci"]
        covered += low <= -P_CRUSHED <= high
        assert row["whatif"] == 0.0
    # Nominal 95%: with 30 seeds, fewer than 25 covered would have probability below 1%.
    assert covered >= 25


def test_conditioning_drops_exactly_the_contradicting_timelines(testbed) -> None:  # type: ignore[no-untyped-def]
    runs, seed = 3000, 11
    twin = twins(testbed, "set(unrest = 0 @ 2000-08)", runs=runs, seed=seed)
    assert twin.prior_facts == ["famine_in_june"]
    baseline = run_timelines(testbed, runs, seed)
    assert baseline.timelines is not None
    famine = testbed.event_index["famine"]
    expected = np.flatnonzero(baseline.timelines.first[famine] == parse_month("2000-06"))
    assert np.array_equal(twin.timelines, expected)
    unconditioned = twins(
        testbed, "set(unrest = 0 @ 2000-08)", runs=runs, seed=seed, condition=False
    )
    assert unconditioned.kept == runs


def test_probabilities_of_necessity_and_sufficiency(testbed) -> None:  # type: ignore[no-untyped-def]
    """Claim: the rebel was crushed because the discovery ended in 'crushed'.

    PN = 1: taking the other option always undoes the crushing. PS: among timelines with neither,
    only those where the plot was discovered (and the rebel escaped) can be turned:
    P(discovered and escaped | not crushed) = 0.25 * P_DISCOVERED / (1 - P_CRUSHED) = 0.35346.
    """
    result = k.claim("discovered.crushed", "rebel_crushed", testbed, runs=8000, seed=5)
    assert result.necessity["p"] == 1.0
    expected_ps = 0.25 * P_DISCOVERED / (1 - P_CRUSHED)
    n = result.sufficiency["timelines"]
    se = (expected_ps * (1 - expected_ps) / n) ** 0.5
    assert abs(result.sufficiency["p"] - expected_ps) < 4 * se
    low, high = result.sufficiency["ci"]
    assert low < result.sufficiency["p"] < high
    assert "necessary" in result.verdict()


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("no_plot", "no_plot"),
        ("What if the rebel had stayed loyal?", "no_plot"),
        ("rebel never plots", "no_plot"),
        ("no conspiracy", "no_plot"),
        ("what if unrest flared in march", "early_famine_riot"),
        ("riots in the spring", "early_famine_riot"),
    ],
)
def test_free_text_matches_the_catalogue(testbed, phrase, expected) -> None:  # type: ignore[no-untyped-def]
    assert resolve_query(phrase, testbed).whatif.id == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("nonsense", ["banana spaceship", "qwerty asdf", "the of and", "???"])
def test_nonsense_is_refused_with_candidates(testbed, nonsense) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match=r"closest|empty"):
        resolve_query(nonsense, testbed)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("block(nothing)", "unknown event 'nothing'"),
        ("do(plot @ 2001-01)", "outside the scenario"),
        ("do(plot @ 2000-13)", "months run from 01 to 12"),
        ("do(plot)", "needs a month"),
        ("choose(discovered, fled)", "has no option 'fled'"),
        ("set(nobody = 1 @ 2000-02)", "unknown name 'nobody'"),
        ("set(king.crown = 7 @ 2000-02)", "wrong type"),
        ("do(famine @ 2000-02)", "can only happen from 2000-06"),
        ("explode(plot)", "unknown intervention"),
        ("do(plot @ 2000-02", "unbalanced"),
    ],
)
def test_invalid_interventions_get_one_clear_error(testbed, query, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InterventionError, match=message):
        k.whatif(query, testbed, runs=200, seed=1)


def test_forcing_an_event_of_a_dead_actor_is_refused(tmp_path, testbed) -> None:  # type: ignore[no-untyped-def]
    # Conditioned on a record where the rebel was crushed by March, he is dead in every timeline.
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "id,month,tolerance,label,condition\n"
        "crushed_early,2000-02,1,The rebel is crushed early,\"chose('discovered', 'crushed')\"\n"
    )
    from kremlinology.analysis.fidelity import read_facts, with_facts

    scenario = with_facts(testbed, read_facts(facts, testbed))
    items = parse_interventions("do(plot @ 2000-06)", scenario)
    twin = run_twins(scenario, to_plan(items, scenario), divergence_month(items, scenario), 4000, 2)
    assert twin.kept > 0
    from kremlinology.counterfactual.query import admissibility

    with pytest.raises(InterventionError, match="rebel is dead"):
        admissibility(twin, items)


def test_intervention_that_rewrites_fixed_history_is_refused(tmp_path, testbed) -> None:  # type: ignore[no-untyped-def]
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "id,month,tolerance,label,condition\n"
        "omen_seen,2000-01,0,An omen in January,\"fired('omen')\"\n"
    )
    from kremlinology.analysis.fidelity import read_facts, with_facts

    scenario = with_facts(testbed, read_facts(facts, testbed))
    with pytest.raises(InterventionError, match="contradicts fixed history"):
        k.whatif("block(omen @ 2000-03)", scenario, runs=2000, seed=1)


def test_abc_posterior_matches_the_conjugate_answer(tmp_path, testbed) -> None:  # type: ignore[no-untyped-def]
    """luck ~ Beta(2, 2) is the January hazard of the omen. Given that the omen happened, the
    posterior is Beta(3, 2), mean 0.6 (sd 0.2); the other facts do not depend on luck."""
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "id,month,tolerance,label,condition\n"
        "omen_seen,2000-01,0,An omen in January,\"fired('omen')\"\n"
    )
    from kremlinology.analysis.calibrate import calibrate
    from kremlinology.analysis.fidelity import read_facts, with_facts

    scenario = with_facts(testbed, read_facts(facts, testbed))
    result = calibrate(scenario, runs=40_000, seed=9, accept=0.05, method="timeline")
    assert result.threshold == 0.0
    luck = result.samples[:, [p.model.id for p in scenario.parameters].index("luck")]
    assert abs(luck.mean() - 0.6) < 4 * 0.2 / np.sqrt(luck.size)


def test_drivers_rank_a_deciding_parameter_above_an_irrelevant_one(testbed) -> None:  # type: ignore[no-untyped-def]
    """The abdication hazard is clip(2 * zeal, 0, 1) from October on, so ``zeal`` decides whether
    the king still rules; ``luck`` only drives the January omen and explains nothing of it."""
    from kremlinology.analysis.effects import correlation_ratio, outcome_columns

    result = k.whatif("set(unrest = 5 @ 2000-03)", testbed, runs=8000, seed=4, workers=1)
    names = [p.model.id for p in testbed.parameters]
    rules = {c.id: c.values for c in outcome_columns(testbed, result.twin.whatif.outcomes)}
    king_rules = rules["king_rules"]
    zeal = correlation_ratio(result.twin.parameters[names.index("zeal")], king_rules)
    luck = correlation_ratio(result.twin.parameters[names.index("luck")], king_rules)
    assert zeal > 0.05
    assert luck < 0.01
    rows = {d["factor"]: d for d in result.drivers if d["outcome"] == "king_rules"}
    # More zeal, more abdications: the king less likely to rule, clearly; luck's interval spans 0.
    assert rows["zeal"]["kind"] == "parameter" and rows["zeal"]["ci"][1] < 0
    assert "luck" not in rows or rows["luck"]["ci"][0] <= 0 <= rows["luck"]["ci"][1]


def test_replicate_abc_keeps_the_parameter_sets_that_explain_the_record(
    tmp_path,
    testbed,  # type: ignore[no-untyped-def]
) -> None:
    """With the omen in January on the record, a set's chance of reproducing it is its ``luck``
    (prior Beta(2, 2), mean 0.5). Judged on 40 timelines each, the closest 10% of 1,000 sets are
    those with high luck: their mean is far above the prior's (the top decile of Beta(2, 2) starts
    at 0.80; noise in 40 draws pulls some lower sets in). ``zeal`` plays no part in the omen, so its
    accepted mean stays near its prior's 0.5 (truncated normal, sd 0.2: 4 s.e. is 0.025)."""
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "id,month,tolerance,label,condition\n"
        "omen_seen,2000-01,0,An omen in January,\"fired('omen')\"\n"
    )
    from kremlinology.analysis.calibrate import calibrate
    from kremlinology.analysis.fidelity import read_facts

    scenario = dataclasses.replace(testbed, facts=read_facts(facts, testbed))
    result = calibrate(scenario, runs=40_000, seed=3, accept=0.1, replicates=40)
    names = [p.model.id for p in scenario.parameters]
    luck = result.samples[:, names.index("luck")]
    zeal = result.samples[:, names.index("zeal")]
    assert 80 <= result.accepted <= 140
    assert luck.mean() > 0.7
    assert abs(zeal.mean() - 0.5) < 4 * 0.2 / np.sqrt(result.accepted)

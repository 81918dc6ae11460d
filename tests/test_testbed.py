"""The testbed's probabilities, worked out by hand, against the engine.

The testbed (src/kremlinology/scenarios/testbed) runs 12 months, 2000-01 .. 2000-12. Engine order is
declaration order (no delay-0 trigger to move): plot, discovered, famine, riot, hard_line,
tax_protest, omen, abdication. Months below are numbered k = 1 (January) .. 12 (December).

Every statistical check uses a tolerance of 4 standard errors of the hand-derived value, computed
from the hand-derived probability (never from the simulated one), with a fixed seed; so each check
is deterministic, and a mistake in the engine that moves a probability by more than a few tenths of
a percent fails it. Structural facts that hold timeline by timeline are checked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from kremlinology.analysis.outcomes import SimulationResult
from kremlinology.api import simulate
from kremlinology.months import parse_month
from kremlinology.scenario.model import Scenario

RUNS = 100_000
SEED = 20240601
Z = 4.0  # tolerance in standard errors

JUNE = parse_month("2000-06")
JULY = parse_month("2000-07")
SEPTEMBER = parse_month("2000-09")
NOVEMBER = parse_month("2000-11")
DECEMBER = parse_month("2000-12")


def binomial_tail(n: int, k: int) -> float:
    """P(Binomial(n, 1/2) >= k), exactly."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


# -- hand derivations ---------------------------------------------------------------------------

# plot: hazard 0.1 in each of 12 months, once: P = 1 - 0.9**12.
P_PLOT = 1 - 0.9**12
# discovered: fires the month after plot (trigger delay 1), so only if plot fired in months 1..11.
P_DISCOVERED = 1 - 0.9**11
# discovered's options: crushed weight 3; escaped weight threat - 0.6 + 1 where
# threat = rebel.base.strength * 2 = 0.6, so weight 1: crushed with probability 3 / (3 + 1).
P_CRUSHED_GIVEN_DISCOVERED = 0.75
P_REBEL_CRUSHED = P_DISCOVERED * P_CRUSHED_GIVEN_DISCOVERED
# famine: window June only, hazard 0.5.
P_FAMINE = 0.5
# tax_protest: once false, hazard 0.5 every month: count ~ Binomial(12, 1/2), mean 6, variance 3;
# fires at least once with probability 1 - 0.5**12.
MEAN_PROTESTS, VAR_PROTESTS = 6.0, 3.0
# unrest = 0.5 * protests so far + 3 * famine (max 10 is never reached: 6 + 3 = 9).
# Let N_j = protests in months 1..j ~ Binomial(j, 1/2) and F the famine (June).
# riot (no hazard: certain once its condition holds) is examined after famine and before
# tax_protest in each month, so in month k it sees unrest = 0.5 * N_{k-1} + 3 * F * [k >= 6].
# Before June N_{k-1} <= 4, unrest <= 2: no riot. riot fires by month k (k >= 6) iff
# F or N_{k-1} >= 5. Unrest never falls, so:
#   P(riot at all)        = 1/2 + 1/2 * P(N_11 >= 5) = 1/2 + 1/2 * 1486/2048
#   P(riot in June)       = 1/2 + 1/2 * P(N_5 = 5) = 1/2 + 1/64  (so the median month is June)
#   P(riot by August)     = 1/2 + 1/2 * P(N_7 >= 5) = 1/2 + 1/2 * 29/128
P_RIOT = 0.5 + 0.5 * binomial_tail(11, 5)
P_RIOT_JUNE = 0.5 + 0.5 * binomial_tail(5, 5)
P_RIOT_BY_AUGUST = 0.5 + 0.5 * binomial_tail(7, 5)
# unrest_end = 0.5 * N_12 + 3 F: mean 0.5 * 6 + 3 * 0.5 = 4.5, variance 0.25 * 3 + 9 * 0.25 = 3.
MEAN_UNREST, VAR_UNREST = 4.5, 3.0
# hard_line: January only, no hazard, when regime == hard; regime's prior gives hard 0.75.
P_HARD_LINE = 0.75
# omen: January only, hazard = luck ~ Beta(2, 2): P = E[luck] = 1/2, and
# E[luck | omen] = E[luck^2] / E[luck] = (Var + mean^2) / mean = (0.05 + 0.25) / 0.5 = 0.6.
P_OMEN, LUCK_GIVEN_OMEN, LUCK_VAR = 0.5, 0.6, 0.05
# plotted_by_july: read at the start of July, so plot fired in months 1..6: 1 - 0.9**6.
P_PLOTTED_BY_JULY = 1 - 0.9**6


def abdication_probability() -> float:
    """P(abdication), from the riot's timing and an integral over zeal's prior.

    abdication (window September..December) needs king.power < 0.2, which holds exactly once the
    riot fired (power 0.5 - 0.7 clips to 0; nothing raises it), and palace.commander == king, which
    holds until the abdication itself. Its hazard is 0 in September and h = min(2 zeal, 1) from
    October. riot is examined before abdication in the same month, so in month k the condition
    holds iff riot fired by month k: with R_k = F or N_{k-1} >= 5,
      P(first such k is 10) = P(R_10) = 1/2 + 1/2 * P(N_9 >= 5) = 3/4,
      P(first is 11) = 1/2 * (P(N_10 >= 5) - P(N_9 >= 5)),
      P(first is 12) = 1/2 * (P(N_11 >= 5) - P(N_10 >= 5)).
    From the first month K the event has 13 - K draws at hazard h, independent of the riot:
      P = sum_K P(K) * (1 - E[(1 - h)^(13 - K)]),
    with E[(1 - h)^j] = integral_0^0.5 (1 - 2z)^j f(z) dz, f the truncated normal density
    (mean 0.5, sd 0.2, on [0, 1]), computed by quadrature here (not by the engine's sampler).
    """
    density = stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2).pdf

    def stays(j: int) -> float:
        return float(integrate.quad(lambda z: (1 - 2 * z) ** j * density(z), 0.0, 0.5)[0])

    first = {
        10: 0.5 + 0.5 * binomial_tail(9, 5),
        11: 0.5 * (binomial_tail(10, 5) - binomial_tail(9, 5)),
        12: 0.5 * (binomial_tail(11, 5) - binomial_tail(10, 5)),
    }
    return sum(p * (1 - stays(13 - k)) for k, p in first.items())


P_ABDICATION = abdication_probability()

# Facts. famine_in_june: condition fired('famine') read at the start of June (false: famine only
# fires in June) and at the end of June: holds iff the famine fired, 1/2.
# riot_by_summer (July +- 1): false at the start of June (no riot before June) and true at the end
# of August: P(riot by August).
P_FACT_FAMINE = P_FAMINE
P_FACT_RIOT = P_RIOT_BY_AUGUST


# -- the run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(testbed: Scenario) -> SimulationResult:
    return simulate(testbed, runs=RUNS, seed=SEED)


def first(result: SimulationResult, event: str) -> np.ndarray:
    assert result.raw.timelines is not None
    return result.raw.timelines.first[result.scenario.event_index[event]]


def fired(result: SimulationResult, event: str) -> np.ndarray:
    return first(result, event) >= 0


def outcome(result: SimulationResult, ident: str) -> float:
    rows = {r["id"]: r["p"] for r in result.outcome_rows()}
    return float(rows[ident])


def event_p(result: SimulationResult, event: str) -> float:
    return {r["id"]: r["p"] for r in result.event_rows()}[event]


def close_proportion(observed: float, p: float, n: int) -> None:
    se = math.sqrt(p * (1 - p) / n)
    assert abs(observed - p) <= Z * se, f"{observed} vs {p} (4 SE = {Z * se:.5f})"


def close_mean(observed: float, mean: float, variance: float, n: int) -> None:
    se = math.sqrt(variance / n)
    assert abs(observed - mean) <= Z * se, f"{observed} vs {mean} (4 SE = {Z * se:.5f})"


# -- tests --------------------------------------------------------------------------------------


def test_hand_derived_numbers_are_what_the_comments_say() -> None:
    # Guards the arithmetic of the derivations themselves.
    assert binomial_tail(11, 5) == 1486 / 2048
    assert binomial_tail(9, 5) == 0.5
    assert binomial_tail(7, 5) == 29 / 128
    assert P_RIOT_JUNE == 0.5 + 1 / 64
    assert 0.81 < P_ABDICATION < 0.83


def test_plot_and_its_month_distribution(result: SimulationResult) -> None:
    close_proportion(event_p(result, "plot"), P_PLOT, RUNS)
    # First fire month is geometric: P(month k) = 0.1 * 0.9**(k-1).
    months = first(result, "plot")
    start = result.scenario.start
    for k in range(1, 13):
        share = float(np.mean(months == start + k - 1))
        close_proportion(share, 0.1 * 0.9 ** (k - 1), RUNS)
    # Median first month among timelines where it fired: P(k <= 4) / P_PLOT = 0.479,
    # P(k <= 5) / P_PLOT = 0.571, so 2000-05.
    assert {r["id"]: r["median_month"] for r in result.event_rows()}["plot"] == "2000-05"


def test_discovered_follows_plot_by_one_month(result: SimulationResult) -> None:
    close_proportion(event_p(result, "discovered"), P_DISCOVERED, RUNS)
    plot, discovered = first(result, "plot"), first(result, "discovered")
    early = (plot >= 0) & (plot <= NOVEMBER)
    assert np.array_equal(discovered[early], plot[early] + 1)
    assert np.all(discovered[~early] < 0)


def test_discovered_options(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    e = result.scenario.event_index["discovered"]
    found = fired(result, "discovered")
    crushed = result.raw.timelines.option[e][found] == 0
    close_proportion(float(crushed.mean()), P_CRUSHED_GIVEN_DISCOVERED, int(found.sum()))
    close_proportion(outcome(result, "rebel_crushed"), P_REBEL_CRUSHED, RUNS)
    # option counts in the aggregates agree with the per-timeline arrays
    counts = result.raw.aggregates.option_counts[e]
    assert counts[0] == int(crushed.sum()) and counts[1] == int((~crushed).sum())


def test_famine(result: SimulationResult) -> None:
    close_proportion(event_p(result, "famine"), P_FAMINE, RUNS)
    months = first(result, "famine")
    assert set(np.unique(months)) == {-1, JUNE}


def test_riot(result: SimulationResult) -> None:
    close_proportion(event_p(result, "riot"), P_RIOT, RUNS)
    riot, famine = first(result, "riot"), first(result, "famine")
    # riot is declared after famine: wherever the famine fired, the riot fires that same month.
    assert np.array_equal(riot[famine >= 0], famine[famine >= 0])
    # never before June
    assert np.all((riot < 0) | (riot >= JUNE))
    close_proportion(float(np.mean(riot == JUNE)), P_RIOT_JUNE, RUNS)
    assert {r["id"]: r["median_month"] for r in result.event_rows()}["riot"] == "2000-06"


def test_riot_exactly_from_protest_counts(result: SimulationResult) -> None:
    # Timeline by timeline: riot fired iff famine or at least 5 protests in months 1..11. The count
    # over 12 months is known; the December protest only matters when the count is exactly 5.
    assert result.raw.timelines is not None
    protests = result.raw.timelines.count[result.scenario.event_index["tax_protest"]]
    famine, riot = fired(result, "famine"), fired(result, "riot")
    assert np.all(riot[famine | (protests >= 6)])
    assert not np.any(riot[~famine & (protests <= 4)])


def test_hard_line_is_the_regime(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    close_proportion(event_p(result, "hard_line"), P_HARD_LINE, RUNS)
    regime_row = [p.model.id for p in result.scenario.parameters].index("regime")
    hard = result.raw.timelines.parameters[regime_row] == 1.0  # values [soft, hard]
    assert np.array_equal(hard, fired(result, "hard_line"))
    assert set(np.unique(first(result, "hard_line"))) == {-1, result.scenario.start}


def test_tax_protest_repeats(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    counts = result.raw.timelines.count[result.scenario.event_index["tax_protest"]]
    close_mean(float(counts.mean()), MEAN_PROTESTS, VAR_PROTESTS, RUNS)
    # Var(sample variance) ~ (mu4 - sigma^4) / n; Binomial(12, 1/2): mu4 = 9 * (3 - 1/6) = 25.5
    close_mean(float(counts.var()), VAR_PROTESTS, 25.5 - VAR_PROTESTS**2, RUNS)
    close_proportion(event_p(result, "tax_protest"), 1 - 0.5**12, RUNS)
    assert counts.max() <= 12


def test_unrest(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    close_mean(outcome(result, "unrest_end"), MEAN_UNREST, VAR_UNREST, RUNS)
    protests = result.raw.timelines.count[result.scenario.event_index["tax_protest"]]
    expected = 0.5 * protests + 3.0 * fired(result, "famine")
    index = [o.id for o in result.scenario.outcomes].index("unrest_end")
    assert np.array_equal(result.raw.timelines.outcomes[index], expected)


def test_omen_uses_luck(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    close_proportion(event_p(result, "omen"), P_OMEN, RUNS)
    luck = result.raw.timelines.parameters[0]
    omen = fired(result, "omen")
    # Var(luck | omen) = E[l^3]/E[l] - 0.36 = (0.2 / 0.5) - 0.36 = 0.04 (Beta(2,2): E[l^3] = 0.2)
    close_mean(float(luck[omen].mean()), LUCK_GIVEN_OMEN, 0.04, int(omen.sum()))


def test_plotted_by_july(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    close_proportion(outcome(result, "plotted_by_july"), P_PLOTTED_BY_JULY, RUNS)
    index = [o.id for o in result.scenario.outcomes].index("plotted_by_july")
    plot = first(result, "plot")
    assert np.array_equal(result.raw.timelines.outcomes[index] == 1.0, (plot >= 0) & (plot < JULY))


def test_abdication(result: SimulationResult) -> None:
    close_proportion(event_p(result, "abdication"), P_ABDICATION, RUNS)
    close_proportion(outcome(result, "king_rules"), 1 - P_ABDICATION, RUNS)
    close_proportion(outcome(result, "ruler_end.rebel"), P_ABDICATION, RUNS)
    assert outcome(result, "ruler_end.king") + outcome(result, "ruler_end.rebel") == 1.0
    assert outcome(result, "ruler_end.none") == 0.0
    assert outcome(result, "ruler_end.palace") == 0.0
    abdication, riot = first(result, "abdication"), first(result, "riot")
    done = abdication >= 0
    # only after a riot (the same month counts), never in September (hazard 0 then)
    assert np.all(riot[done] >= 0) and np.all(riot[done] <= abdication[done])
    assert np.all(abdication[done] > SEPTEMBER)
    assert {r["id"]: r["median_month"] for r in result.event_rows()}["abdication"] == "2000-10"


def test_facts(result: SimulationResult) -> None:
    holds = result.raw.aggregates.fact_holds
    ids = [f.id for f in result.scenario.facts]
    close_proportion(holds[ids.index("famine_in_june")] / RUNS, P_FACT_FAMINE, RUNS)
    close_proportion(holds[ids.index("riot_by_summer")] / RUNS, P_FACT_RIOT, RUNS)
    assert holds[ids.index("famine_in_june")] == int(fired(result, "famine").sum())


def test_parameter_priors(result: SimulationResult) -> None:
    assert result.raw.timelines is not None
    values = dict(
        zip(
            [p.model.id for p in result.scenario.parameters],
            result.raw.timelines.parameters,
            strict=True,
        )
    )
    close_mean(float(values["luck"].mean()), 0.5, LUCK_VAR, RUNS)
    zeal = stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2)
    close_mean(float(values["zeal"].mean()), 0.5, float(zeal.var()), RUNS)
    close_mean(float(values["spread"].mean()), 0.5, 1 / 12, RUNS)
    close_proportion(float(np.mean(values["regime"] == 1.0)), 0.75, RUNS)
    assert np.all((values["zeal"] >= 0) & (values["zeal"] <= 1))
    assert set(np.unique(values["regime"])) == {0.0, 1.0}
    # whole distributions: Kolmogorov-Smirnov at a strict level (deterministic with the seed)
    assert stats.kstest(values["luck"], stats.beta(2, 2).cdf).pvalue > 1e-4
    assert stats.kstest(values["zeal"], zeal.cdf).pvalue > 1e-4
    assert stats.kstest(values["spread"], stats.uniform(0, 1).cdf).pvalue > 1e-4


def test_streaming_aggregates_match_kept_timelines(
    testbed: Scenario, result: SimulationResult
) -> None:
    # keep_timelines=False takes the streaming path for number outcomes' intervals; the point
    # estimates must be identical and the intervals equal to rounding.
    streamed = simulate(testbed, runs=RUNS, seed=SEED, keep_timelines=False)
    assert streamed.raw.timelines is None
    for kept, stream in zip(result.outcome_rows(), streamed.outcome_rows(), strict=True):
        assert kept["id"] == stream["id"]
        assert kept["p"] == stream["p"]
        assert kept["ci"] == pytest.approx(stream["ci"], rel=1e-9)
    assert result.event_rows() == streamed.event_rows()

"""Issue 14: what-ifs conditioned on the record up to each timeline's own divergence.

A ``choose`` acts when its event fires in the factual world, so each timeline diverges at that
month and is held to the facts that close before it (``Onset`` in counterfactual.twin).
"""

from __future__ import annotations

import numpy as np
import pytest

import kremlinology as k
from kremlinology.analysis.drivers import CandidateSpec
from kremlinology.counterfactual.drivers import find_drivers, run_candidates
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


# -- drivers by intervention (section 1) on tests/data/chain --------------------------------------
#
# P(spark) = 0.5; the plot forms under tension with probability push ~ U(0, 1) (mean 0.5); the May
# strike follows a plot and hits 3 times in 4, which wins. So P(won by July) = 0.5 * 0.5 * 0.75 =
# 0.1875, and blocking the spark, the plot or the strike takes it to 0 (effect +0.1875 each);
# forcing the strike to miss takes it to 0 (-0.1875), forcing it to hit gives 0.25 (+0.0625). The
# rally (0.9 under tension) co-occurs with the plot but decides nothing: effect 0. The parade
# (October) comes after July and cannot drive the July outcome. push's top quarter (mean 0.875)
# against its bottom quarter (mean 0.125): 0.5 * 0.75 * 0.75 = +0.281; idle is read by nothing.

CHAIN = "tests/data/chain"
NO_OP = "set(crowds = 0 @ 2000-01)"


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    return k.load_scenario(CHAIN)


@pytest.fixture(scope="module")
def chain_drivers(chain):  # type: ignore[no-untyped-def]
    result = run_whatif(chain, NO_OP, 4000, 3)
    report = find_drivers(result.twin, result.interventions, result.outcomes, top=20)
    return result, report


def test_drivers_rank_the_cause_and_clear_the_bystander(chain_drivers) -> None:  # type: ignore[no-untyped-def]
    _, report = chain_drivers
    rows = {(r["outcome"], r["factor"]): r for r in report.rows}
    won = [r for r in report.rows if r["outcome"] == "won_by_july"]
    # 2,000 timelines: a share of 0.1875 has a standard error of 0.0087; 4 s.e. tolerance.
    for factor in ("spark", "plot", "strike"):
        row = rows[("won_by_july", factor)]
        assert row["kind"] == "event" and row["clear"]
        assert abs(row["effect"] - 0.1875) < 0.035, row
        assert row["direction"] == "makes it likelier"
    misses = rows[("won_by_july", "strike.misses")]
    assert misses["kind"] == "option" and misses["ci"][1] < 0
    assert abs(rows[("won_by_july", "strike.hits")]["effect"] - 0.0625) < 0.025
    rally = rows[("won_by_july", "rally")]
    assert rally["effect"] == 0.0 and rally["ci"][0] <= 0.0 <= rally["ci"][1]
    assert not rally["clear"]
    # Ranked by the size of the effect: the causes above the bystander.
    order = [r["factor"] for r in won]
    assert order.index("rally") > max(order.index(f) for f in ("spark", "plot", "strike"))
    # An event that can only come after the outcome's month is never its driver.
    assert ("won_by_july", "parade") not in rows
    assert "won_by_july" in report.headline


def test_parameters_are_drivers_with_intervals(chain_drivers) -> None:  # type: ignore[no-untyped-def]
    _, report = chain_drivers
    rows = {(r["outcome"], r["factor"]): r for r in report.rows}
    push = rows[("won_by_july", "push")]
    assert push["kind"] == "parameter" and push["clear"]
    # 1,000 timelines a quarter: the contrast's standard error is about 0.017.
    assert abs(push["effect"] - 0.281) < 0.07
    assert push["first_order"]["ci"][0] > 0
    idle = rows.get(("won_by_july", "idle"))
    assert idle is None or idle["ci"][0] <= 0 <= idle["ci"][1]


def test_driver_json_and_the_cap(chain, chain_drivers) -> None:  # type: ignore[no-untyped-def]
    result, report = chain_drivers
    data = result.to_dict()
    for row in data["drivers"]:
        assert {"outcome", "factor", "kind", "effect", "ci", "method"} <= set(row)
        assert row["kind"] in ("parameter", "event", "option")
    assert data["drivers_method"]["candidates_eligible"] == report.eligible
    capped = find_drivers(result.twin, result.interventions, result.outcomes, cap=2)
    assert capped.tried == 2 and capped.eligible == report.eligible
    # The candidates' worlds are twins of the what-if world: the base replays exactly.
    rally = CandidateSpec("event", chain.event_index["rally"], None, 0.0)
    positions = np.arange(500)
    (blocked,) = run_candidates(
        result.twin, result.interventions, [rally], positions, [chain.end + 1]
    )
    won = [o.id for o in chain.outcomes].index("won_by_july")
    assert np.array_equal(blocked[won], result.twin.whatif.outcomes[won, :500])


# -- why this timeline (section 2) -----------------------------------------------------------------


def test_why_chain_of_a_constructed_timeline_is_the_constructed_chain(chain_drivers) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.counterfactual.why import why

    result, _ = chain_drivers
    twin, scenario = result.twin, result.scenario
    index = scenario.event_index
    first = twin.whatif.first
    # A timeline where all of it happened: spark, plot, rally, the strike hitting, the parade.
    hits = [o.id for o in scenario.events[index["strike"]].options].index("hits")
    every = (first[[index[e] for e in ("spark", "plot", "rally", "strike", "parade")]] >= 0).all(0)
    built = np.flatnonzero(every & (twin.whatif.option[index["strike"]] == hits))
    timeline = int(twin.timelines[built[0]])
    found = why(result, "won_by_july", timeline).to_dict()
    links = [(link["event"], link["because"], link["leads_to"]) for link in found["chain"]]
    assert links == [
        ("spark", [], ["plot"]),
        ("plot", ["spark"], ["strike"]),
        ("strike", ["plot"], ["won_by_july"]),
    ]
    assert found["chain"][2]["option"] == "hits"
    # The rally happened too but decided nothing; the parade came after July: neither was tested
    # as a cause of the outcome's value, and the parade is not even among the events before it.
    assert found["events_tested"] == 4
    # Where the strike missed, no single event was necessary for the outcome (it is false, and
    # blocking one event cannot make it true): an empty chain.
    struck = (first[[index[e] for e in ("spark", "plot", "strike")]] >= 0).all(0)
    missed = np.flatnonzero(struck & (twin.whatif.option[index["strike"]] != hits))
    empty = why(result, "won_by_july", int(twin.timelines[missed[0]])).to_dict()
    assert empty["value"] == 0.0 and empty["chain"] == []


def test_why_in_the_cli_and_the_chronicle(chain) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kremlinology.cli import app
    from kremlinology.narrate.chronicle import chronicle

    runner = CliRunner()
    args = ["why", NO_OP, "won_by_july", "--scenario", CHAIN, "--runs", "300", "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert [link["event"] for link in data["chain"]] == ["spark", "plot", "strike"]
    text = runner.invoke(app, args[:-1])
    assert "made possible by A plot forms" in text.output
    bad = runner.invoke(app, ["why", NO_OP, "nothing", "--scenario", CHAIN, "--runs", "300"])
    assert bad.exit_code == 2 and "unknown outcome 'nothing'" in bad.output
    result = run_whatif(chain, "block(rally)", 300, 3)
    told = chronicle(result, causes=True).to_dict()
    assert told["causes"] and told["causes"][0]["timeline"] == told["timeline"]


# -- questions in free text (section 4) ------------------------------------------------------------
#
# Each phrasing with the reading expected: a catalogue id, an intervention the words parse into,
# or a refusal (None), whose message must name the closest readings. Worked out from the thaw
# catalogue (whatifs.yaml) and its events' labels, not from the matcher's output.

PHRASINGS = [
    # a paraphrase of every catalogue entry
    ("what if Beria had caught wind of the conspiracy", "beria_detects_coup"),
    ("what if Malenkov had stayed loyal to Beria", "malenkov_stays_loyal"),
    ("what if the generals had backed Beria", "zhukov_backs_beria"),
    ("what if the marshals had stayed neutral in the Beria affair", "army_neutral_1953"),
    ("What if Beria caught scent of the coup and purged his rivals?", "beria_strikes_first"),
    ("what if the plot had targeted Malenkov too", "plot_targets_malenkov_too"),
    ("what if there had been no uprising in East Germany", "no_gdr_uprising"),
    ("what if Beria had taken a hard line on Germany", "beria_hardline_on_gdr"),
    (
        "what if Beria had survived and traded East Germany for a neutral Germany",
        "beria_german_reunification",
    ),
    (
        "what if the West had taken the Soviet offer on Germany seriously",
        "west_takes_up_german_offer",
    ),
    ("what if Congress had approved aid to the Soviet Union", "congress_approves_aid"),
    ("what if McCarthy had fallen a year earlier", "mccarthy_weakened_early"),
    ("what if Malenkov had kept the Secretariat", "malenkov_keeps_secretariat"),
    ("what if Malenkov had beaten off Khrushchev in 1955", "malenkov_survives_1955"),
    ("what if Khrushchev had never given the Secret Speech", "no_secret_speech"),
    ("what if China had not backed the Polish party", "china_does_not_back_poland"),
    ("what if Moscow had used force in Poland", "poland_invaded"),
    ("what if Nagy had kept Hungary in the Warsaw Pact", "nagy_stays_in_pact"),
    ("what if there had been no Suez war", "no_suez"),
    ("what if Zhukov had sided with the majority in 1957", "zhukov_backs_antiparty_group"),
    ("what if no U-2 had been shot down", "no_u2_incident"),
    ("what if Nixon had won the 1960 election", "nixon_wins_1960"),
    ("what if there had been no missiles in Cuba", "no_cuban_missiles"),
    ("what if the party apparatus had not been split", "no_party_split"),
    ("what if the KGB chief had warned Khrushchev", "semichastny_warns_khrushchev"),
    ("what if Khrushchev had heeded the warning", "khrushchev_heeds_warning"),
    # other wordings of entries
    ("what if Zhukov had backed Beria?", "zhukov_backs_beria"),
    ("no uprising in the GDR in June 1953", "no_gdr_uprising"),
    ("what if the army had stayed in its barracks in 1953", "army_neutral_1953"),
    # questions naming an event and a month or year: parsed
    ("what if Khrushchev died in 1955", "do(death_khrushchev @ 1955-01)"),
    ("what if Molotov had died in 1957", "do(death_molotov @ 1957-01)"),
    ("what if Eisenhower died in office in 1956", "do(death_eisenhower @ 1956-01)"),
    ("what if Zhukov had died in March 1958", "do(death_zhukov @ 1958-03)"),
    # what the scenario cannot answer, and nonsense: refused
    ("what if Stalin had lived", None),
    ("what if Trotsky had come back", None),
    ("what if Khrushchev died in 1975", None),  # outside the scenario
    ("purple elephants dance on the moon", None),
    ("what if the army had sided with Beria", None),  # Zhukov for Beria, or the army neutral?
    ("what if China supported the Polish Communist party", None),  # what happened: no what-if
]


@pytest.fixture(scope="module")
def thaw():  # type: ignore[no-untyped-def]
    return k.load_scenario("thaw")


@pytest.mark.parametrize(("phrase", "expected"), PHRASINGS)
def test_free_text_is_read_or_refused(thaw, phrase, expected) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.counterfactual.catalogue import QueryError, resolve_query
    from kremlinology.counterfactual.interventions import describe

    if expected is None:
        with pytest.raises(QueryError, match=r"closest: .+"):
            resolve_query(phrase, thaw)
        return
    found = resolve_query(phrase, thaw)
    assert found.reading is not None
    assert 0.72 <= found.reading.confidence <= 1.0
    if expected.endswith(")"):
        assert describe(found.interventions) == expected
        assert found.reading.kind == "parsed" and found.whatif is None
    else:
        assert found.whatif is not None and found.whatif.id == expected, found.reading.text


def test_the_reading_is_stated(thaw) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.counterfactual.catalogue import resolve_query

    found = resolve_query("what if Khrushchev died in 1955", thaw)
    assert found.reading is not None
    data = found.reading.to_dict()
    assert data["text"] == "'Khrushchev dies of natural causes' happens in 1955-01"
    assert data["kind"] == "parsed" and data["interventions"] == "do(death_khrushchev @ 1955-01)"


@pytest.mark.parametrize(
    ("cause", "effect", "expected"),
    [
        ("China supported the Polish Communist party", "Poland was not invaded",
         ("china_poland_stance.backing", "not poland_invaded_1956")),
        ("Beria was arrested", "Khrushchev led in 1960",
         ("beria_arrested", "leader_1960.khrushchev")),
        ("Zhukov backed the plotters", "Beria removed in 1953",
         ("zhukov_stance_1953.plotters", "beria_removed_1953")),
    ],
)  # fmt: skip
def test_claims_read_free_text(thaw, cause, effect, expected) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.counterfactual.claims import resolve_cause, resolve_effect

    found_cause, found_effect = resolve_cause(cause, thaw), resolve_effect(effect, thaw)
    assert (found_cause.text(), found_effect.text()) == expected
    assert found_cause.reading is not None and found_cause.reading["confidence"] >= 0.6
    assert found_effect.reading is not None


def test_claims_refuse_what_they_cannot_read(thaw) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.counterfactual.claims import ClaimError, resolve_cause

    with pytest.raises(ClaimError, match="closest"):
        resolve_cause("bananas ripen in the sun", thaw)


# -- validation as a forecaster would see it (section 5) -------------------------------------------

CHAIN_FACTS = """
facts:
  - id: spark_seen
    month: 2000-02
    tolerance: 0
    label: A spark in February
    condition: "fired('spark')"
  - id: plot_formed
    month: 2000-03
    tolerance: 0
    label: A plot in March
    condition: "fired('plot')"
  - id: won_in_may
    month: 2000-05
    tolerance: 0
    label: The strike won in May
    condition: "won"
  - id: parade_held
    month: 2000-10
    tolerance: 0
    label: A parade in October
    condition: "fired('parade')"
"""


@pytest.fixture(scope="module")
def chain_with_record(tmp_path_factory):  # type: ignore[no-untyped-def]
    import shutil

    folder = tmp_path_factory.mktemp("chain") / "chain"
    shutil.copytree(CHAIN, folder)
    with open(folder / "events.yaml", "a", encoding="utf-8") as handle:
        handle.write(CHAIN_FACTS)
    return k.load_scenario(folder)


def test_sbc_ranks_are_uniform_on_a_scenario_with_an_exact_answer(chain_with_record) -> None:  # type: ignore[no-untyped-def]
    """The facts are binary and a tenth of the prior timelines match any record exactly, so
    rejection at the 1% quantile keeps exactly the matching ones: exact ABC, calibrated. push is
    informed by the record (P(plot) = 0.5 push), idle is not; both ranks must be uniform."""
    from kremlinology.analysis.validation import sbc

    result = sbc(chain_with_record, replicates=200, runs=8000, accept=0.01, samples=49, seed=5)
    rows = {r["parameter"]: r for r in result.uniformity()}
    # 200 ranks in 10 bins: a calibrated method fails the 1% chi-square test once in a hundred.
    assert rows["push"]["p"] > 0.01 and rows["idle"]["p"] > 0.01, rows
    assert result.accepted >= 49
    # A miscalibrated method is caught: ranks of the truth among prior draws, shifted upwards by
    # a posterior that is too narrow at the top (only draws below the median), are not uniform.
    skewed = result.ranks.copy()
    skewed[:, 0] = np.minimum(skewed[:, 0] * 2, result.samples)
    result.ranks = skewed
    assert result.uniformity()[0]["p"] < 0.01


def test_backtest_scores_the_heldout_facts_against_baselines(chain_with_record) -> None:  # type: ignore[no-untyped-def]
    from kremlinology.analysis.validation import backtest

    found = backtest(chain_with_record, parse_month("2000-04"), runs=6000, seed=2, accept=0.05)
    data = found.to_dict()
    assert data["fit_facts"] == 2 and data["heldout_facts"] == 2
    # Fitting to a spark and a plot raises push (posterior mean about 2/3 against 1/2), so the
    # strike's win and the parade become likelier than under the prior: P(win | spark, plot) =
    # 0.75 against 0.1875 a priori.
    won = next(f for f in data["facts"] if f["id"] == "won_in_may")
    assert abs(won["posterior"] - 0.75) < 0.05 and abs(won["prior"] - 0.1875) < 0.03
    brier = data["scores"]["brier"]
    assert brier["posterior"]["mean"] < brier["prior"]["mean"]
    assert brier["gain_over_prior"]["ci"][0] > 0
    for kind in ("brier", "log"):
        for name in ("posterior", "prior", "base_rate"):
            low, high = data["scores"][kind][name]["ci"]
            assert low <= data["scores"][kind][name]["mean"] <= high


def test_history_backtest_in_the_cli(chain_with_record) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kremlinology.cli import app

    folder = str(chain_with_record.path)
    args = ["history", "--backtest", "--holdout", "2000-04", "--scenario", folder, "--runs", "3000"]
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["holdout_month"] == "2000-04" and data["heldout_facts"] == 2
    assert {"posterior", "prior", "base_rate", "gain_over_prior"} <= set(data["scores"]["log"])
    text = CliRunner().invoke(app, args)
    assert "brier score (lower is better)" in text.output
    bad = CliRunner().invoke(app, [*args[:3], "1999-01", *args[4:]])
    assert bad.exit_code == 2 and "held-out" in bad.output


def test_total_order_index_by_intervention_has_its_known_value(chain_drivers) -> None:  # type: ignore[no-untyped-def]
    """Won by July = spark * hit * (u < push) with the plot's uniform draw u fixed by the
    timeline. Redrawing push alone: given spark and hit (3/8 of timelines) the outcome is a coin
    with mean 1 - u, variance u (1 - u), averaging 1/6; Var(Y) = 0.1875 * 0.8125. So the total
    index is (3/8 / 6) / 0.15234 = 0.410 and the first-order one Var(0.375 push) / Var(Y) =
    0.0117 / 0.1523 = 0.077. idle is read by nothing: exactly 0."""
    result, _ = chain_drivers
    report = find_drivers(
        result.twin, result.interventions, result.outcomes, top=20, total_order=True
    )
    rows = {(r["outcome"], r["factor"]): r for r in report.rows}
    push = rows[("won_by_july", "push")]
    low, high = push["total_order"]["ci"]
    assert low <= 0.410 <= high and 0.3 < push["total_order"]["index"] < 0.52
    assert push["first_order"]["ci"][0] <= 0.077 <= push["first_order"]["ci"][1]
    idle = rows.get(("won_by_july", "idle"))
    assert idle is None or idle["total_order"]["index"] == 0.0


def test_calibrate_backtests_too(chain_with_record) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kremlinology.cli import app

    folder = str(chain_with_record.path)
    args = ["calibrate", "--scenario", folder, "--runs", "3000", "--accept", "0.05", "--no-write"]
    done = CliRunner().invoke(app, [*args, "--backtest", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    backtest = data["backtest"]
    assert backtest["heldout_facts"] >= 1 and backtest["fit_facts"] >= 1
    assert {"posterior", "prior", "base_rate"} <= set(backtest["scores"]["brier"])
    assert data["written"] is None
    text = CliRunner().invoke(app, [*args, "--backtest"])
    assert text.exit_code == 0 and "brier score (lower is better)" in text.output

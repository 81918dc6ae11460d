"""The ``calibrate`` command: fit a scenario's parameters to the record by rejection ABC."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from kremlinology.analysis.calibrate import Calibration, install_posterior
from kremlinology.analysis.calibrate import calibrate as run_calibration
from kremlinology.analysis.fidelity import history as run_history
from kremlinology.analysis.validation import backtest as run_backtest
from kremlinology.cli.baseline import print_backtest
from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    IKnowOption,
    JsonOption,
    RunsOption,
    ScenarioOption,
    SeedOption,
    computing,
    fail,
    load,
    parse_runs,
    parse_seed,
    score_text,
    user_errors,
    with_progress,
)
from kremlinology.defaults import DEFAULT_SCENARIO, DEFAULT_SEED
from kremlinology.limits import cores
from kremlinology.scenario.model import Scenario

SCORED_RUNS = 20_000
SCORES = ("score", "fit_score", "holdout_score")


BacktestOption = Annotated[
    bool,
    typer.Option(
        "--backtest",
        help="also fit on the facts before the holdout month and score the later ones "
        "against the prior and a base rate (as history --backtest)",
    ),
]


def calibrate_command(
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = "400000",
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    accept: Annotated[float, typer.Option(help="share of parameter sets to accept")] = 0.02,
    method: Annotated[
        str, typer.Option(help="replicates (sets judged on ~25 timelines) or timeline")
    ] = "replicates",
    replicates: Annotated[int, typer.Option(help="timelines per parameter set")] = 50,
    write: Annotated[bool, typer.Option(help="write posterior.csv into the scenario")] = True,
    as_json: JsonOption = False,
    backtest: BacktestOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Fit the parameters to the record by rejection ABC; report fit and held-out scores."""
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    if not 0 < accept <= 1:
        fail("--accept must be in (0, 1]")
    asked = {"method": method, "replicates": replicates, "runs": n, "accept": accept}
    with user_errors(), computing(engine, cluster):
        loaded = load(scenario)
        if method not in ("replicates", "timeline") or replicates < 1:
            fail("--method is replicates or timeline, and --replicates at least 1")
        result = _fit(loaded, s, asked)
        summary = _summary(result, asked)
        if not as_json:
            _print_fit(result, n)
        if write:
            report = _install(loaded, result, summary)
            if not as_json:
                print(
                    f"posterior: score {report['score']:.3f}, "
                    f"fit {score_text(report['fit_score'])}, "
                    f"held out {score_text(report['holdout_score'])} ({SCORED_RUNS:,} timelines)"
                )
        if backtest:
            found = run_backtest(loaded, None, n, s, accept=accept, method=method).to_dict()
            if as_json:
                summary["backtest"] = found
            else:
                print_backtest(found, n, s)
    if as_json:
        summary["elapsed_s"] = round(result.elapsed_s, 3)
        summary["written"] = str(loaded.path / "posterior.csv") if write else None
        print(json.dumps(summary, allow_nan=False))


def _fit(loaded: Scenario, seed: int, asked: dict[str, Any]) -> Calibration:
    """The rejection-ABC fit of ``asked`` (method, replicates, runs, accept), with a progress
    bar, spread over this machine's cores (or the cluster's workers, inside ``--cluster``)."""
    return with_progress(
        "fitting: simulating parameter sets",
        lambda update: run_calibration(
            loaded,
            asked["runs"],
            seed,
            asked["accept"],
            workers=cores(),
            method=asked["method"],
            replicates=asked["replicates"],
            progress=update,
        ),
    )


def _print_fit(result: Calibration, runs: int) -> None:
    """The prior's scores and what the fit accepted, in two lines."""
    prior = result.prior_report
    print(
        f"prior: score {prior['score']:.3f}, fit {score_text(prior['fit_score'])}, "
        f"held out {score_text(prior['holdout_score'])} ({runs:,} timelines)"
    )
    print(
        f"accepted {result.accepted:,} parameter sets "
        f"(distance <= {result.threshold:.3f}) in {result.elapsed_s:.1f} s"
    )


def _summary(result: Calibration, asked: dict[str, Any]) -> dict[str, Any]:
    """What calibration.json records of a fit (the posterior's scores are added on install)."""
    method = asked["method"]
    return {
        "method": method,
        "replicates": asked["replicates"] if method == "replicates" else 1,
        "runs": asked["runs"],
        "seed": result.seed,
        "accept": asked["accept"],
        "accepted": result.accepted,
        "threshold": result.threshold,
        "prior": {k: result.prior_report[k] for k in SCORES},
    }


def _install(loaded: Scenario, result: Calibration, summary: dict[str, Any]) -> dict[str, Any]:
    """Write the posterior, score it on fresh timelines and record the fit in calibration.json
    (written whole or not at all); return the posterior's fidelity report."""
    seed = result.seed
    install_posterior(loaded, result)
    fitted = load(str(loaded.path))
    report = run_history(fitted, SCORED_RUNS, seed)
    summary["posterior"] = {k: report[k] for k in SCORES}
    summary["scored_on"] = {"runs": SCORED_RUNS, "seed": seed}
    target = loaded.path / "calibration.json"
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        staging.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return dict(report)

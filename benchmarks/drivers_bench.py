"""Drivers benchmark: the cost of finding the flagship's drivers by intervention, against the
what-if's own time (``make bench``; issue 14 asks for at most 3x at 20,000 timelines).

In one process: answer ``beria_detects_coup`` on 20,000 timelines (seed 1) without drivers, then
find the drivers of its 5 headline outcomes (``WhatIfResult.find_drivers``). Writes
benchmarks/drivers_results.json with both times, the ratio, the candidates tried and the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import kremlinology as k
from kremlinology.counterfactual.query import run_whatif

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 3.0


def measure(runs: int, query: str, workers: int) -> dict[str, object]:
    """Time the what-if and its drivers; return the figures and the driver table."""
    scenario = k.load_scenario("thaw")
    run_whatif(scenario, query, 500, 1, workers=workers)  # warm the kernels' caches
    started = time.perf_counter()
    result = run_whatif(scenario, query, runs, 1, workers=workers)
    whatif_s = time.perf_counter() - started
    started = time.perf_counter()
    report = result.find_drivers()
    drivers_s = time.perf_counter() - started
    assert report is not None
    return {
        "query": query,
        "runs": runs,
        "conditioned_runs": result.twin.kept,
        "workers": workers,
        "whatif_s": round(whatif_s, 2),
        "drivers_s": round(drivers_s, 2),
        "ratio": round(drivers_s / whatif_s, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": drivers_s <= TARGET_RATIO * whatif_s,
        **report.summary(),
        "drivers": [
            {
                "outcome": r["outcome"],
                "factor": r["factor"],
                "label": r["label"],
                "kind": r["kind"],
                "effect": round(r["effect"], 4),
                "ci": [round(c, 4) for c in r["ci"]],
            }
            for r in report.rows
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--query", default="beria_detects_coup")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "drivers_results.json")
    args = parser.parse_args()
    row = measure(args.runs, args.query, args.workers)
    print(
        f"{args.runs:,} timelines: what-if {row['whatif_s']} s, drivers {row['drivers_s']} s "
        f"({row['ratio']}x; target {TARGET_RATIO}x, {'met' if row['meets_target'] else 'missed'}); "
        f"{row['candidates_tried']} of {row['candidates_eligible']} candidates tried"
    )
    args.out.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Engine benchmarks (``make bench``; not part of the test suite).

Measures, on one core:
  * timeline-months per second of the vectorized engine and of the reference interpreter on
    (a) a synthetic scenario (150 events, 20 actors, 140 months; see synthetic.py) and
    (b) the bundled ``thaw`` scenario, if it loads;
  * their ratio;
  * the peak resident memory (ru_maxrss, in a fresh subprocess) of 1,000,000 timelines of the
    140-month synthetic scenario with streaming aggregates only (keep_timelines=False).

Prints a table and writes benchmarks/results.json. Targets: >= 1,000,000 timeline-months/s/core
on the synthetic scenario, >= 100x the reference, <= 2 GB for 1M timelines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kremlinology.engine.reference import reference_run
from kremlinology.engine.simulate import run_timelines
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario
from synthetic import write_synthetic  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent

TARGET_RATE = 1_000_000
TARGET_RATIO = 100
TARGET_MEMORY_MB = 2048

MEMORY_SCRIPT = """
import resource, sys, time
from kremlinology.scenario.loader import load_scenario
from kremlinology.engine.simulate import run_timelines
scenario = load_scenario(sys.argv[1])
runs = int(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
raw = run_timelines(scenario, runs, 1, keep_timelines=False)
elapsed = time.perf_counter() - started
assert raw.timelines is None and raw.aggregates.runs == runs
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, peak, elapsed)
"""


def vector_rate(scenario: Scenario, runs: int, repeats: int) -> dict[str, Any]:
    """Best of ``repeats`` runs of the vectorized engine (one process, streaming aggregates)."""
    run_timelines(scenario, min(runs, 2000), 1, keep_timelines=False)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_timelines(scenario, runs, 1, keep_timelines=False)
        times.append(time.perf_counter() - started)
    best = min(times)
    return {
        "runs": runs,
        "months": scenario.months,
        "seconds": best,
        "timeline_months_per_s": runs * scenario.months / best,
    }


def reference_rate(scenario: Scenario, runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    reference_run(scenario, 1, runs)
    elapsed = time.perf_counter() - started
    return {
        "runs": runs,
        "months": scenario.months,
        "seconds": elapsed,
        "timeline_months_per_s": runs * scenario.months / elapsed,
    }


def measure(name: str, scenario: Scenario, runs: int, ref_runs: int, repeats: int) -> dict:
    print(f"[{name}] {scenario!r}, {scenario.months} months", flush=True)
    vector = vector_rate(scenario, runs, repeats)
    print(f"  vector:    {vector['timeline_months_per_s']:>14,.0f} timeline-months/s", flush=True)
    reference = reference_rate(scenario, ref_runs)
    print(
        f"  reference: {reference['timeline_months_per_s']:>14,.0f} timeline-months/s", flush=True
    )
    return {
        "scenario": name,
        "events": len(scenario.events),
        "actors": len(scenario.actors),
        "vector": vector,
        "reference": reference,
        "ratio": vector["timeline_months_per_s"] / reference["timeline_months_per_s"],
    }


def peak_memory(folder: Path, runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, peak, elapsed = done.stdout.split()
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    return {
        "runs": runs,
        "peak_rss_mb": int(peak) * scale / 2**20,
        "rss_before_run_mb": int(before) * scale / 2**20,
        "seconds": float(elapsed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000, help="timelines per vector run")
    parser.add_argument("--reference-runs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-runs", type=int, default=1_000_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "targets": {
            "timeline_months_per_s_per_core": TARGET_RATE,
            "ratio_to_reference": TARGET_RATIO,
            "peak_memory_mb_1m_timelines": TARGET_MEMORY_MB,
        },
        "scenarios": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic(Path(tmp) / "synthetic")
        synthetic = load_scenario(folder)
        results["scenarios"].append(
            measure("synthetic", synthetic, args.runs, args.reference_runs, args.repeats)
        )
        try:
            thaw = load_scenario("thaw")
        except KremlinologyError as error:
            print(f"[thaw] skipped: {str(error).splitlines()[0]}")
            results["thaw_skipped"] = str(error).splitlines()[0]
        else:
            results["scenarios"].append(
                measure("thaw", thaw, args.runs, args.reference_runs, args.repeats)
            )
        if not args.skip_memory:
            print(f"[memory] {args.memory_runs:,} timelines, streaming aggregates ...", flush=True)
            results["memory"] = peak_memory(folder, args.memory_runs)

    print()
    print(f"{'scenario':<10} {'vector tl-m/s':>15} {'reference tl-m/s':>17} {'ratio':>8}")
    for row in results["scenarios"]:
        print(
            f"{row['scenario']:<10} {row['vector']['timeline_months_per_s']:>15,.0f} "
            f"{row['reference']['timeline_months_per_s']:>17,.0f} {row['ratio']:>8,.0f}x"
        )
    synthetic_row = results["scenarios"][0]
    checks = {
        "rate": synthetic_row["vector"]["timeline_months_per_s"] >= TARGET_RATE,
        "ratio": synthetic_row["ratio"] >= TARGET_RATIO,
    }
    if "memory" in results:
        memory = results["memory"]
        print(
            f"memory: {memory['runs']:,} timelines x {synthetic.months} months: peak RSS "
            f"{memory['peak_rss_mb']:,.0f} MB ({memory['seconds']:.0f} s)"
        )
        checks["memory"] = memory["peak_rss_mb"] <= TARGET_MEMORY_MB
    results["meets_targets"] = checks
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in checks.items()))
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Parallel efficiency on a Dask LocalCluster (``make bench``; not part of the test suite).

Runs the same Thaw baseline (``run_timelines``, streaming aggregates only) twice, each in a fresh
process: once in one process, once on a LocalCluster of ``--workers`` single-threaded worker
processes (started before the clock starts: its start-up, the workers' imports of the engine
included, is reported apart as ``startup_s``).
Reports for each: wall time, CPU time, peak resident memory, and the load average before and
after. On a machine shared with other work a wall-clock efficiency says little alone, so the
CPU-time figures come with it:

* ``wall efficiency``: single wall / (workers x cluster wall);
* ``work efficiency``: single CPU / all the cluster's CPU (workers, nannies, and the client
  process, which holds a LocalCluster's scheduler and nannies): 1.0 means no overhead at all;
* ``balance``: the mean worker CPU / the busiest worker's CPU (1.0: evenly spread);
* ``CPU-based efficiency``: work efficiency x balance, the wall efficiency an otherwise idle
  machine with one free core per worker would show.

Target (issue 13): at least 90% at 1,000,000 timelines on 2 workers. Writes
benchmarks/cluster_results.json and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET = 0.9
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KREMLINOLOGY_QUIET": "1"}

SCRIPT = """
import json, os, resource, sys, time
from kremlinology.engine.cluster import use_cluster
from kremlinology.engine.simulate import run_timelines
from kremlinology.scenario.loader import load_scenario

def cpu():
    t = os.times()
    return t.user + t.system

scenario, runs, engine, cluster = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
loaded = load_scenario(scenario)
found = {"load_before": os.getloadavg()}
opening = time.perf_counter()
with use_cluster(None if cluster == "-" else cluster) as executor:
    found["startup_s"] = time.perf_counter() - opening
    client = None if executor is None else executor.client
    workers = {} if client is None else client.run(cpu)
    nannies = {} if client is None else client.run(cpu, nanny=True)
    pids = {} if client is None else client.run(os.getpid, nanny=True)
    mine, started = cpu(), time.perf_counter()
    raw = run_timelines(loaded, runs, 1, keep_timelines=False, engine=engine)
    found["wall_s"] = time.perf_counter() - started
    found["client_cpu_s"] = cpu() - mine
    if client is not None:
        after = client.run(cpu)
        found["worker_cpu_s"] = sorted(after[w] - workers[w] for w in after)
        later = client.run(cpu, nanny=True)
        # a LocalCluster's nannies live in this process, whose CPU is counted already
        apart = {pids[w]: later[w] - nannies[w] for w in later if pids[w] != os.getpid()}
        found["nanny_cpu_s"] = sum(apart.values())
assert raw.aggregates.runs == runs
found["load_after"] = os.getloadavg()
found["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(found))
"""


def measure(scenario: str, runs: int, engine: str, cluster: str) -> dict[str, Any]:
    """One run in a fresh process (niced like its parent): the figures SCRIPT prints."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, scenario, str(runs), engine, cluster],
        capture_output=True,
        text=True,
        check=True,
        env=CHILD_ENV,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"runs": runs, "engine": engine, "cluster": cluster, **found}


def efficiency(single: dict[str, Any], spread: dict[str, Any], workers: int) -> dict[str, float]:
    """The four figures of the module docstring."""
    busy = spread["worker_cpu_s"]
    total = sum(busy) + spread["nanny_cpu_s"] + spread["client_cpu_s"]
    work = single["client_cpu_s"] / total
    balance = (sum(busy) / len(busy)) / max(busy)
    return {
        "wall_efficiency": single["wall_s"] / (workers * spread["wall_s"]),
        "work_efficiency": work,
        "balance": balance,
        "cpu_based_efficiency": work * balance,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", default="thaw")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="numpy")
    parser.add_argument("--out", type=Path, default=HERE / "cluster_results.json")
    args = parser.parse_args()
    single = measure(args.scenario, args.runs, args.engine, "-")
    spread = measure(args.scenario, args.runs, args.engine, f"local:{args.workers}")
    figures = efficiency(single, spread, args.workers)
    results = {"cpus": os.cpu_count(), "single": single, "cluster": spread, **figures}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{args.runs:,} {args.scenario} timelines, {args.engine} kernel, "
        f"{args.workers}-worker LocalCluster vs one process"
    )
    for name, part in (("one process", single), ("cluster", spread)):
        print(
            f"  {name:12s} wall {part['wall_s']:8.1f} s, client CPU {part['client_cpu_s']:8.1f} s,"
            f" peak {part['peak_rss_mb']:7.0f} MB, load {part['load_before'][0]:.2f} -> "
            f"{part['load_after'][0]:.2f}, start-up {part['startup_s']:.1f} s"
        )
    print(f"  worker CPU s: {', '.join(f'{c:.1f}' for c in spread['worker_cpu_s'])}")
    for name in ("wall_efficiency", "work_efficiency", "balance", "cpu_based_efficiency"):
        mark = f" (target {TARGET:.0%})" if name != "balance" else ""
        print(f"  {name:22s} {figures[name]:6.1%}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

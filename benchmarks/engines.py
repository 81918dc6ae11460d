"""Engines side by side (``make bench``; not part of the test suite): issue 13's figures.

In one process, on the peer model of ``../shared/bench/peer_model.py`` (20 actors, 150 events
examined every month, 140 months; written as a scenario): timeline-months per second on one core
of the compiled kernel, the NumPy kernel, the reference interpreter and the peers (NumPy
struct-of-arrays, Philox draws alone, plain Python, a hand-written Numba kernel, Mesa 3 when
importable), and their ratios. Then, in fresh processes: the kernel's first compile in an empty
cache folder (with the Thaw: one kernel serves every scenario) and the load of the cached kernel
(Numba's import included); ``kremlinology whatif beria_detects_coup`` on 20,000 timelines with a
warm cache, start-up included, per engine; a large Thaw ``run`` (wall and peak memory); and with
``--cluster`` the parallel efficiency of that run on a 2-worker LocalCluster. ``--full`` makes the
large run 1,000,000 timelines (the target's size; many minutes here).

Prints the ratio table with the targets (met or missed) and writes benchmarks/engines_results.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kremlinology.engine.compiled import CompiledProgram, load_kernel, numba_available
from kremlinology.engine.reference import reference_run
from kremlinology.engine.simulate import run_timelines
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = [REPO.parent / "shared" / "bench" / "peer_model.py"]
PEERS.append(REPO.parent.parent / "shared" / "bench" / "peer_model.py")  # from a worktree
PEER = Path(os.environ.get("PEER_MODEL", next((p for p in PEERS if p.exists()), PEERS[0])))
TARGETS = {
    "engine / hand-written numba": 0.8,
    "engine / mesa": 300.0,
    "whatif 20k wall s": 2.0,
    "run 1M wall s": 60.0,
    "run 1M peak MB": 2048.0,
    "first thaw compile s": 60.0,
    "cached kernel load s": 1.0,
    "cluster efficiency": 0.9,
}
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KREMLINOLOGY_QUIET": "1"}

LARGE_SCRIPT = """
import resource, sys, time
from kremlinology.engine.cluster import use_cluster
from kremlinology.engine.simulate import run_timelines
from kremlinology.scenario.loader import load_scenario
scenario = load_scenario(sys.argv[1])
runs, engine, cluster = int(sys.argv[2]), sys.argv[3], sys.argv[4]
with use_cluster(None if cluster == "-" else cluster):
    started = time.perf_counter()
    raw = run_timelines(scenario, runs, 1, keep_timelines=False, engine=engine)
    elapsed = time.perf_counter() - started
assert raw.aggregates.runs == runs
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, elapsed)
"""

LOAD_SCRIPT = """
import sys, time
from kremlinology.scenario.loader import load_scenario
scenario = load_scenario(sys.argv[1])
started = time.perf_counter()
from kremlinology.engine.compiled import load_kernel
load_kernel(scenario)
print(time.perf_counter() - started)
"""


def _peer_module() -> ModuleType | None:
    if not PEER.exists():
        return None
    spec = importlib.util.spec_from_file_location("peer_model", PEER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_rate(scenario: Scenario, runs: int, engine: str) -> float:
    """Timeline-months per second of one engine, one process, best of two."""
    run_timelines(scenario, min(runs, 256), 1, keep_timelines=False, engine=engine)  # warm up
    best = np.inf
    for _ in range(2):
        started = time.perf_counter()
        run_timelines(scenario, runs, 1, keep_timelines=False, engine=engine)
        best = min(best, time.perf_counter() - started)
    return runs * scenario.months / best


def reference_rate(scenario: Scenario, runs: int) -> float:
    started = time.perf_counter()
    reference_run(scenario, 1, runs)
    return runs * scenario.months / (time.perf_counter() - started)


def _child(script: str, *args: str, cache: str | None = None) -> str:
    env = dict(CHILD_ENV)
    if cache is not None:
        env["KREMLINOLOGY_CACHE_DIR"] = cache
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip().splitlines()[-1]


def first_compile(folder: Path) -> float:
    """Seconds to compile a scenario's kernel in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        return float(_child(LOAD_SCRIPT, str(folder), cache=cache))


def whatif_wall(runs: int, engine: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "kremlinology", "whatif", "beria_detects_coup", "--runs",
               str(runs), "--seed", "1", "--json", "--engine", engine, "--no-drivers"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=CHILD_ENV)
    seconds = time.perf_counter() - started
    answer = json.loads(done.stdout)
    return {
        "runs": runs,
        "engine": engine,
        "wall_s": seconds,
        "kept": answer.get("conditioned_runs"),
    }


def large_run(runs: int, engine: str, cluster: str = "-") -> dict[str, Any]:
    peak, elapsed = _child(LARGE_SCRIPT, "thaw", str(runs), engine, cluster).split()
    return {
        "runs": runs,
        "engine": engine,
        "cluster": cluster,
        "wall_s": float(elapsed),
        "peak_rss_mb": int(peak) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=16_384, help="peer-model timelines per rate")
    parser.add_argument("--reference-runs", type=int, default=8)
    parser.add_argument("--large-runs", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 timelines, thaw compile")
    parser.add_argument("--cluster", action="store_true", help="2-worker LocalCluster efficiency")
    parser.add_argument("--skip-thaw", action="store_true", help="the peer model only")
    parser.add_argument("--skip-numpy-large", action="store_true",
                        help="the large run on the compiled kernel only")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "engines_results.json")
    args = parser.parse_args()
    large = 1_000_000 if args.full else args.large_runs
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_at_start": os.getloadavg(),
    }
    peer = _peer_module()
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if peer is not None:
            folder = peer.write_scenario(Path(tmp) / "peer")
            scenario = load_scenario(folder)
            CompiledProgram(scenario)  # compiled into this process's cache
            results["peer_cached_load_s"] = float(_child(LOAD_SCRIPT, str(folder)))
            rates["engine (compiled)"] = engine_rate(scenario, args.runs, "compiled")
            rates["NumPy kernel"] = engine_rate(scenario, args.runs, "numpy")
            rates["reference interpreter"] = reference_rate(scenario, args.reference_runs)
            rates.update(peer.rates(args.runs))
    results["peer_rates"] = rates
    results["whatif"], results["large"] = [], []
    if not args.skip_thaw:
        _thaw(args, large, results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


def _thaw(args: argparse.Namespace, large: int, results: dict[str, Any]) -> None:
    """The Thaw's figures: compile and load, what-if wall, large run, cluster efficiency."""
    thaw = load_scenario("thaw")
    engines = ["numpy"]
    if numba_available():
        results["thaw_first_compile_s"] = first_compile(REPO / "src/kremlinology/scenarios/thaw")
        load_kernel(thaw)  # warm cache for what follows
        results["thaw_cached_load_s"] = float(_child(LOAD_SCRIPT, "thaw"))
        engines.insert(0, "compiled")
    results["whatif"] = [whatif_wall(20_000, e) for e in engines]
    big = engines[:1] if args.skip_numpy_large else engines
    results["large"] = [large_run(large, e) for e in big]
    if args.cluster:
        engine = engines[0]
        single = min(r["wall_s"] for r in results["large"] if r["engine"] == engine)
        spread = large_run(large, engine, "local:2")
        spread["efficiency"] = single / (2 * spread["wall_s"])
        results["cluster"] = spread


def _verdict(value: float | None, target: float, higher: bool) -> str:
    if value is None:
        return "not measured"
    return "met" if (value >= target if higher else value <= target) else "missed"


def _peer_rows(rates: dict[str, float]) -> list[tuple[str, float | None, float | None, bool]]:
    """The ratio table of the peer model (compiled kernel against each other engine and peer)."""
    engine = rates.get("engine (compiled)")
    others = [
        ("NumPy kernel", "NumPy kernel", None),
        ("reference interpreter", "reference interpreter", None),
        ("numpy struct-of-arrays", "numpy struct-of-arrays", None),
        ("hand-written numba", "numba hand-written, counter draws",
         TARGETS["engine / hand-written numba"]),
        ("plain python", "plain python", None),
        ("mesa", "mesa 3 (one Model per timeline)", TARGETS["engine / mesa"]),
    ]  # fmt: skip
    rows: list[tuple[str, float | None, float | None, bool]] = []
    for label, key, target in others:
        other = rates.get(key)
        ratio = engine / other if engine and other else None
        rows.append((f"compiled / {label}", ratio, target, True))
    return rows


def print_table(results: dict[str, Any]) -> None:
    """The figures, with the targets (met or missed)."""
    rates = results["peer_rates"]
    print(f"load average at start: {results['load_average_at_start']}")
    print("peer model, timeline-months per second on one core:")
    for name, rate in rates.items():
        print(f"  {name:40s} {rate:14,.0f}")
    rows = _peer_rows(rates)
    walls = {w["engine"]: w["wall_s"] for w in results["whatif"]}
    rows.append(("whatif 20k wall s", walls.get("compiled"), TARGETS["whatif 20k wall s"], False))
    large = {r["engine"]: r for r in results["large"]}
    size = results["large"][0]["runs"] if results["large"] else 0
    label = "run 1M" if size == 1_000_000 else f"run {size:,} (not 1M)"
    compiled = large.get("compiled", {})
    rows.append((f"{label} wall s", compiled.get("wall_s"), TARGETS["run 1M wall s"], False))
    rows.append((f"{label} peak MB", compiled.get("peak_rss_mb"), TARGETS["run 1M peak MB"], False))
    rows.append(("first compile s (empty cache)", results.get("thaw_first_compile_s"),
                 TARGETS["first thaw compile s"], False))  # fmt: skip
    rows.append(("cached kernel load s", results.get("thaw_cached_load_s"),
                 TARGETS["cached kernel load s"], False))  # fmt: skip
    if "cluster" in results:
        rows.append(("cluster efficiency", results["cluster"]["efficiency"],
                     TARGETS["cluster efficiency"], True))  # fmt: skip
    print(f"{'figure':38s} {'measured':>12s} {'target':>10s}")
    for name, value, target, higher in rows:
        shown = "-" if value is None else f"{value:12.3f}"
        verdict = _verdict(value, target, higher) if target is not None else ""
        goal = "-" if target is None else f"{target:g}"
        print(f"{name:38s} {shown:>12s} {goal:>10s}  {verdict}")
    numpy_large = large.get("numpy", {}).get("wall_s", float("nan"))
    print(f"numpy kernel: whatif 20k {walls.get('numpy', float('nan')):.1f} s; "
          f"{label} {numpy_large:.1f} s")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

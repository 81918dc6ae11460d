"""What-if benchmark: wall time of the flagship what-if, start-up included (``make bench``).

Runs ``kremlinology whatif beria_detects_coup --runs N --seed 1 --json --no-drivers`` in a fresh
process (so imports, scenario loading and worker start-up count) for N = 20,000 (target: 5 s)
and, with ``--million``, N = 1,000,000 (target: 5 minutes). Writes benchmarks/whatif_results.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {20_000: 5.0, 1_000_000: 300.0}


def wall_time(runs: int) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "kremlinology",
        "whatif",
        "beria_detects_coup",
        "--runs",
        str(runs),
        "--seed",
        "1",
        "--json",
        "--no-drivers",  # the drivers have their own benchmark (drivers_bench.py)
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    answer = json.loads(done.stdout)
    return {
        "runs": runs,
        "conditioned_runs": answer["conditioned_runs"],
        "wall_s": round(seconds, 2),
        "engine_s": answer["elapsed_s"],
        "target_s": TARGETS.get(runs),
        "meets_target": seconds <= TARGETS.get(runs, float("inf")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also run 1,000,000 timelines")
    parser.add_argument("--out", type=Path, default=HERE / "whatif_results.json")
    args = parser.parse_args()
    sizes = [20_000, 1_000_000] if args.million else [20_000]
    wall_time(2_000)  # warm the scenario cache so that every measured run starts alike
    results = [wall_time(n) for n in sizes]
    for row in results:
        print(
            f"{row['runs']:>9,} timelines: {row['wall_s']:8.2f} s wall "
            f"(target {row['target_s']} s, {'met' if row['meets_target'] else 'missed'})"
        )
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

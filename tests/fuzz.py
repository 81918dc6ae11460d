"""``make fuzz``: many hostile scenario folders through the loader and a short run; the counts.

    python tests/fuzz.py [--examples 10000] [--jobs 2] [--seed 0]

Each job draws its share of examples from tests/hostile.py's strategies (with its own seed) and
checks each in a sandboxed child process. The end prints one line per count (ok, refused,
tracebacks, hangs over 10 s of CPU or 60 s asleep, memory blow-ups over 1 GB, and the answers that
took over 10 s of wall clock only because the machine was busy) and the first examples of each kind
of failure; the exit status is 1 if any traceback, hang or blow-up was found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from hostile import Sandbox, check_spec, hostile_folders  # noqa: E402

BAD = ("traceback", "hang", "memory")


def one_job(examples: int, job_seed: int) -> dict[str, Any]:
    """Check ``examples`` folders in one sandbox; return the counts and failing examples."""
    counts: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    slowest = [0.0, ""]
    wall: list[float] = []  # wall seconds of the answers over the timeout (the machine was busy)
    sandbox = Sandbox(timeout_s=10.0, memory_mb=1024.0)
    root = Path(tempfile.mkdtemp(prefix="kremlinology-fuzz-"))

    @seed(job_seed)
    @settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_folders())
    def check(spec: Any) -> None:
        outcome = check_spec(sandbox, spec, root)
        counts[outcome.kind] += 1
        done = sum(counts[k] for k in ("ok", "refused", *BAD))
        if done % 500 == 0:
            print(f"job {job_seed}: {done:,} of {examples:,} ({dict(counts)})", file=sys.stderr)
        counts[f"stage {outcome.stage}"] += outcome.kind == "ok"
        if outcome.cpu_s > slowest[0] and outcome.kind != "hang":
            slowest[:] = [outcome.cpu_s, spec.label]
        if outcome.kind != "hang" and outcome.seconds > sandbox.timeout_s:
            wall.append(outcome.seconds)
        if outcome.kind in BAD and len(failures) < 40:
            failures.append(
                {"kind": outcome.kind, "label": spec.label, "detail": outcome.detail[-800:]}
            )

    try:
        check()
    finally:
        sandbox.close()
        shutil.rmtree(root, ignore_errors=True)
    return {"counts": dict(counts), "failures": failures, "slowest": slowest, "wall": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object (a job)")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(one_job(args.examples, args.seed)))
        return 0
    started = time.monotonic()
    shares = [
        args.examples // args.jobs + (i < args.examples % args.jobs) for i in range(args.jobs)
    ]
    env = {**os.environ, "KREMLINOLOGY_NO_CACHE": "1"}
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--json",
                "--examples",
                str(n),
                "--seed",
                str(args.seed + i),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i, n in enumerate(shares)
        if n
    ]
    results = [json.loads(child.communicate()[0]) for child in children]
    counts: Counter[str] = Counter()
    for result in results:
        counts.update(result["counts"])
    failures = [f for r in results for f in r["failures"]]
    for failure in failures[:10]:
        print(f"--- {failure['kind']}: {failure['label']}\n{failure['detail']}\n")
    slowest = max((r["slowest"] for r in results), default=[0.0, ""])
    total = sum(counts[k] for k in ("ok", "refused", *BAD))
    print(f"hostile scenarios: {total:,} in {time.monotonic() - started:,.0f} s")
    print(f"  loaded and ran: {counts['ok']:,}")
    print(f"  refused with a clear error: {counts['refused']:,}")
    print(f"  tracebacks: {counts['traceback']:,}")
    wall = sorted(w for r in results for w in r.get("wall", []))
    print(f"  hangs over 10 s of CPU (or 60 s blocked): {counts['hang']:,}")
    print(f"  memory blow-ups over 1 GB: {counts['memory']:,}")
    print(f"  slowest answer: {slowest[0]:.1f} s of CPU ({slowest[1]})")
    print(
        f"  answers over 10 s wall but not of CPU (a busy machine): {len(wall):,}"
        + (f", the longest {wall[-1]:.1f} s" if wall else "")
        + f"; load average {os.getloadavg()[0]:.1f} at the end"
    )
    return 1 if any(counts[k] for k in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())

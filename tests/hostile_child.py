"""The child process of the hostile-input sandbox (tests/hostile.py): one folder per line.

Reads JSON lines ``{"folder": PATH, "run": BOOL}`` on stdin and answers one JSON line each:
``{"kind": "ok" | "refused" | "traceback", "detail": TEXT, "lines": [longest message line]}``.
"ok" means the scenario loaded (and, with ``run``, simulated a few timelines); "refused" means the
package raised one of its own errors for bad input, each a clear message; "traceback" is anything
else (the bug the sandbox exists to find). Hangs and memory blow-ups are the parent's to see.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ["KREMLINOLOGY_NO_CACHE"] = "1"  # every folder is new: never fill the cache

from kremlinology.api import load_scenario, simulate
from kremlinology.scenario.errors import KremlinologyError, ScenarioError


def evaluate(folder: str, run: bool) -> dict[str, object]:
    """Load (and briefly run) one folder; classify what happened."""
    stage = "load"
    try:
        scenario = load_scenario(folder)
        if run:
            stage = "run"
            simulate(scenario, runs=48, seed=7, chunk_size=24)
    except ScenarioError as error:
        lines = [str(p) for p in error.problems]
        unplaced = [p for p in error.problems if p.position.line < 1 or p.position.col < 1]
        if unplaced:
            return {"kind": "traceback", "detail": f"unpositioned: {unplaced[0]}", "stage": stage}
        return {
            "kind": "refused",
            "detail": lines[0] if lines else "",
            "stage": stage,
            "longest": max((len(p.message) for p in error.problems), default=0),
        }
    except KremlinologyError as error:
        return {
            "kind": "refused",
            "detail": str(error)[:300],
            "stage": stage,
            "longest": len(str(error)),
        }
    except BaseException as error:  # the finding: anything that is not a clear refusal
        text = "".join(traceback.format_exception(error))[-2000:]
        return {"kind": "traceback", "detail": text, "stage": stage}
    return {"kind": "ok", "detail": "", "stage": stage}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        answer = evaluate(request["folder"], bool(request.get("run", True)))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

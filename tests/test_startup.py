"""Start-up (issue 13): the command line loads the web stack (FastAPI, Jinja2, uvicorn) only for
``serve`` and Dask only for ``--cluster``, so ``run --help`` and a ``run`` start without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

HEAVY = ("fastapi", "starlette", "jinja2", "uvicorn", "dask", "distributed")
"""Libraries a command that does not serve the web or use a cluster must not import."""

PROBE = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from kremlinology.cli import app
    result = CliRunner().invoke(app, sys.argv[1:])
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    print(json.dumps({{"code": result.exit_code, "output": result.output, "heavy": heavy}}))
    """
).format(heavy=HEAVY)


def _imported(args: list[str]) -> dict[str, object]:
    """Run the CLI app in a fresh interpreter; what it printed and which HEAVY modules it loaded."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KREMLINOLOGY_NO_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--help"],
        ["run", "--scenario", "testbed", "--runs", "50", "--seed", "1", "--json"],
        ["whatif", "no_plot", "--scenario", "testbed", "--runs", "50", "--json", "--no-drivers"],
    ],
    ids=["run-help", "run", "whatif"],
)
def test_commands_start_without_the_web_stack_or_dask(args: list[str]) -> None:
    found = _imported(args)
    assert found["code"] == 0, found["output"]
    assert found["heavy"] == []


def test_the_probe_sees_a_library_that_is_loaded() -> None:
    """``--cluster`` does load Dask: the probe above would catch an eager import."""
    found = _imported(["run", "--scenario", "testbed", "--runs", "10", "--cluster", "local:x"])
    assert found["code"] == 2  # a bad spec, refused before any cluster starts...
    assert "distributed" not in found["heavy"]  # ...and before Dask is imported
    found = _imported(["serve", "--max-runs", "0"])
    assert found["code"] == 2 and "fastapi" in found["heavy"]  # serve imports the web app

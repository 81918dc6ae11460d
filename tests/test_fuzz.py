"""Fuzzing the loader and a short run with hostile scenario folders (issue 12).

A bounded number of examples runs in ``make test``; ``make fuzz`` (tests/fuzz.py) runs 10,000
and prints the counts. Every example must end in ``ok`` or a clear refusal: no traceback, no hang
over 10 s, no memory growth over 1 GB (tests/hostile.py).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from hostile import Sandbox, check_spec, hostile_folders
from kremlinology.limits import MAX_MESSAGE_CHARS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
EXAMPLES = int(os.environ.get("KREMLINOLOGY_FUZZ_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(timeout_s=10.0, memory_mb=1024.0)
    yield box
    box.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every machine: a red run is reproducible
    suppress_health_check=list(HealthCheck),
)
@given(spec=hostile_folders())
def test_hostile_scenarios_are_loaded_or_refused(
    sandbox: Sandbox, root: Path, spec: object
) -> None:
    outcome = check_spec(sandbox, spec, root)  # type: ignore[arg-type]
    assert outcome.kind in ("ok", "refused"), f"{spec.label}: {outcome}"  # type: ignore[attr-defined]
    assert outcome.longest <= MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    "label",
    [
        "symlink loop",
        "dev zero",
        "dev urandom",
        "fifo",
        "sparse",
        "posterior absolute",
        "posterior climbs",
        "posterior not utf8",
        "numbers",
        "d names",
        "nesting",
        "chain1200",
        "doubling60",
    ],
)
def test_each_hostile_case_in_the_sandbox(sandbox: Sandbox, root: Path, label: str) -> None:
    from hostile import MANIFEST, Entry, FolderSpec, d_names, derived_chain, numeric_edge

    valid = Entry("world.yaml", "text", "variables:\n  - {id: a, type: number, initial: 1}\n")
    extra = {
        "symlink loop": [Entry("loop.yaml", "symlink", "loop.yaml")],
        "dev zero": [Entry("events.yaml", "symlink", "/dev/zero")],
        "dev urandom": [Entry("events.yaml", "symlink", "/dev/urandom")],
        "fifo": [Entry("events.yaml", "fifo")],
        "sparse": [Entry("events.yaml", "sparse", 10**10)],
        "numbers": [Entry("n.yaml", "text", numeric_edge("1" + "0" * 400, "attribute"))],
        "chain1200": [Entry("c.yaml", "text", derived_chain(1200, False))],
        "doubling60": [Entry("c.yaml", "text", derived_chain(60, True))],
        "d names": [Entry("d.yaml", "text", d_names(False))],
        "nesting": [Entry("n.yaml", "text", "x: " + "[" * 100_000 + "\n")],
    }.get(label, [])
    manifest = MANIFEST
    if label.startswith("posterior"):
        path = {"posterior absolute": "/etc/hostname", "posterior climbs": "../post.csv"}
        manifest += f"posterior: {path.get(label, 'post.csv')}\n"
        extra = [
            Entry("post.csv", "bytes", b"p\n\xff\n"),
            Entry(
                "p.yaml",
                "text",
                "parameters:\n  - id: p\n    prior: {dist: uniform, low: 0, high: 1}\n",
            ),
        ]
    chain = label.startswith(("chain", "doubling"))  # these declare their own variable
    spec = FolderSpec(
        [Entry("scenario.yaml", "text", manifest), *([] if chain else [valid]), *extra], label
    )
    outcome = check_spec(sandbox, spec, root)
    assert outcome.kind in (("ok", "refused") if chain else ("refused",)), outcome


@pytest.mark.parametrize(
    ("body", "why", "wall_factor"),
    # the spinning child gets a wall limit of 30 s so that, on a busy machine, its CPU second
    # (not the wall clock) is what stops it
    [("while True:\n        pass", "of CPU", 30.0), ("time.sleep(60)", "without computing", 3.0)],
)
def test_the_sandbox_catches_runaways_and_blocked_children(
    tmp_path: Path, body: str, why: str, wall_factor: float
) -> None:
    """A child that computes past the timeout, or sleeps past the wall limit, is a hang: the
    first by its CPU seconds, the second by the time it spent asleep (so a child that is only
    starved of a core by a busy machine is neither)."""
    script = tmp_path / "child.py"
    script.write_text(f"import sys, time\nfor line in sys.stdin:\n    {body}\n", encoding="utf-8")
    box = Sandbox(timeout_s=1.0, wall_factor=wall_factor, child_script=script)
    try:
        started = time.monotonic()
        outcome = box.check(tmp_path)
        took = time.monotonic() - started
    finally:
        box.close()
    assert outcome.kind == "hang" and why in outcome.detail, outcome
    assert took < 30.0
    if why == "of CPU":
        assert outcome.cpu_s >= 1.0
    else:
        assert outcome.cpu_s < 1.0 and outcome.seconds >= 3.0

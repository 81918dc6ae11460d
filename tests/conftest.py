"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from kremlinology.engine.reference import LogEntry
from kremlinology.engine.simulate import start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.expressions import Categorical, Node, ValueType, compile_expression
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario

REPO = Path(__file__).resolve().parents[1]
TESTBED = REPO / "src" / "kremlinology" / "scenarios" / "testbed"

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("default")


@pytest.fixture(scope="session")
def testbed() -> Scenario:
    return load_scenario(TESTBED)


def write_scenario(
    folder: Path,
    files: dict[str, str],
    start: str = "2000-01",
    end: str = "2000-12",
    manifest_extra: str = "",
) -> Path:
    """Write a scenario folder: a manifest plus the given content files (dedented)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = (
        f"name: tmp\nversion: 0.0.1\ntitle: A test scenario\nstart: {start}\nend: {end}\n"
        + manifest_extra
    )
    (folder / "scenario.yaml").write_text(manifest, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def vector_logs(
    scenario: Scenario, seed: int, runs: int, plan: Plan = NO_PLAN, first: int = 0
) -> list[list[LogEntry]]:
    """Run the vectorized kernel with logging; return per-timeline (month, event, option) lists.

    The kernel fires events month by month and, within a month, in engine order, so appending
    each Fired record's timelines in log order gives each timeline's firings in that order.
    """
    program = VectorProgram(scenario)
    block = start_block(program, seed, first, runs)
    block.advance(plan, log=True)
    assert block.log is not None
    logs: list[list[LogEntry]] = [[] for _ in range(runs)]
    for record in block.log:
        event = scenario.events[record.event]
        for timeline, option in zip(record.timelines, record.options, strict=True):
            name = event.options[int(option)].id if event.options else None
            logs[int(timeline) - first].append((record.month, event.id, name))
    return logs


class ScenarioNamespace:
    """A Namespace over a loaded scenario (for compiling plan expressions in tests)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def slot(self, dotted: str) -> tuple[int, ValueType] | None:
        index = self.scenario.slot_index.get(dotted)
        return None if index is None else (index, self.scenario.slots[index].type)

    def derived(self, name: str) -> Node | None:
        for item in self.scenario.derived:
            if item.id == name:
                return compile_expression(item.expr, self)
        return None

    def event(self, name: str) -> int | None:
        return self.scenario.event_index.get(name)

    def option(self, event: int, name: str) -> int | None:
        ids = [o.id for o in self.scenario.events[event].options]
        return ids.index(name) if name in ids else None

    def is_prefix(self, dotted: str) -> bool:
        return any(s.name.startswith(dotted + ".") for s in self.scenario.slots)


def category_code(scenario: Scenario, slot_name: str, category: str) -> int:
    value_type = scenario.slots[scenario.slot_index[slot_name]].type
    assert isinstance(value_type, Categorical)
    return value_type.domain.index(category)


def binomial_se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1.0 - p) / n))

"""History fidelity: how often the baseline reproduces each dated fact of the record."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from kremlinology.engine.simulate import run_timelines
from kremlinology.limits import MAX_CSV_BYTES
from kremlinology.months import MonthFormatError, format_month, parse_month
from kremlinology.scenario.compiler import ScenarioNamespace, default_split
from kremlinology.scenario.errors import Position, Problem, ScenarioError
from kremlinology.scenario.expressions import BOOL, ExpressionError, compile_expression
from kremlinology.scenario.files import read_text
from kremlinology.scenario.loader import parse_yaml
from kremlinology.scenario.model import CompiledFact, Scenario
from kremlinology.scenario.schema import Fact

CSV_COLUMNS = ("id", "month", "tolerance", "label", "condition")


def read_facts(path: str | Path, scenario: Scenario) -> list[CompiledFact]:
    """Read an extra facts file (CSV with columns id, month, tolerance, label, condition[, split],
    or YAML with a ``facts`` list) and compile it against ``scenario``; raise ScenarioError."""
    file = Path(path)
    if not file.is_file():
        raise ScenarioError([Problem(Position(str(path)), "no such facts file")])
    rows = _csv_rows(file) if file.suffix.lower() == ".csv" else _yaml_rows(file)
    problems: list[Problem] = []
    facts = [f for row, position in rows if (f := _compile_fact(row, position, scenario, problems))]
    if problems:
        raise ScenarioError(problems)
    return facts


def _csv_rows(file: Path) -> list[tuple[dict[str, Any], Position]]:
    text = read_text(file, None, str(file), MAX_CSV_BYTES)  # a regular file of bounded size
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        message = f"CSV lacks columns: {', '.join(missing)}"
        raise ScenarioError([Problem(Position(str(file)), message)])
    rows = []
    for number, row in enumerate(reader, start=2):
        clean: dict[str, Any] = {k: (v or "").strip() for k, v in row.items() if k}
        clean["tolerance"] = _int_or_text(clean.get("tolerance", "0"))
        if not clean.get("split"):
            clean.pop("split", None)
        rows.append((clean, Position(str(file), number, 1)))
    return rows


def _int_or_text(text: str) -> Any:
    try:
        return int(text or "0")
    except ValueError:
        return text


def _yaml_rows(file: Path) -> list[tuple[dict[str, Any], Position]]:
    source = parse_yaml(read_text(file, None, str(file)), str(file))
    data = source.data
    items = data.get("facts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ScenarioError(
            [Problem(Position(str(file)), "expected a list of facts under 'facts'")]
        )
    base = ("facts",) if isinstance(data, dict) else ()
    return [(item, source.at((*base, i))) for i, item in enumerate(items)]


def _compile_fact(
    row: Any, position: Position, scenario: Scenario, problems: list[Problem]
) -> CompiledFact | None:
    try:
        fact = Fact.model_validate(row)
    except ValidationError as error:
        for detail in error.errors():
            where = ".".join(str(p) for p in detail["loc"]) or "fact"
            problems.append(Problem(position, f"'{where}': {detail['msg']}"))
        return None
    try:
        month = parse_month(fact.month)
        node = compile_expression(fact.condition, ScenarioNamespace(scenario))
    except (MonthFormatError, ExpressionError) as error:
        problems.append(Problem(position, f"fact '{fact.id}': {error}"))
        return None
    if node.type != BOOL:
        problems.append(Problem(position, f"fact '{fact.id}': the condition must be a boolean"))
        return None
    if not scenario.start <= month <= scenario.end:
        problems.append(Problem(position, f"fact '{fact.id}': month is outside the scenario"))
        return None
    split = fact.split or default_split(scenario.manifest, month)
    return CompiledFact(
        fact.id, fact.label, month, fact.tolerance, node, split, tuple(fact.sources)
    )


def with_facts(scenario: Scenario, extra: list[CompiledFact]) -> Scenario:
    """Return a copy of the scenario whose record also holds ``extra`` facts."""
    taken = {f.id for f in scenario.facts}
    clash = [f.id for f in extra if f.id in taken]
    if clash:
        raise ScenarioError(
            [Problem(Position("facts"), f"fact id already in the scenario: {clash[0]}")]
        )
    return dataclasses.replace(scenario, facts=[*scenario.facts, *extra])


def fidelity_from_holds(
    scenario: Scenario, holds: np.ndarray, runs: int, seed: int
) -> dict[str, Any]:
    """Build the history report from per-fact counts of timelines where the fact held."""
    facts = [
        {
            "id": f.id,
            "month": format_month(f.month),
            "label": f.label,
            "p": float(holds[i]) / runs,
            "split": f.split,
        }
        for i, f in enumerate(scenario.facts)
    ]
    return {
        "runs": runs,
        "seed": seed,
        "facts": facts,
        "score": _mean(facts),
        "fit_score": _mean([f for f in facts if f["split"] == "fit"]),
        "holdout_score": _mean([f for f in facts if f["split"] == "holdout"]),
    }


def _mean(facts: list[dict[str, Any]]) -> float | None:
    return float(np.mean([f["p"] for f in facts])) if facts else None


def history(
    scenario: Scenario,
    runs: int,
    seed: int,
    extra: list[CompiledFact] | None = None,
    use_posterior: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the baseline and report each fact's share of timelines and the mean score
    (``progress(done, total)`` hears of each block of timelines)."""
    target = with_facts(scenario, extra) if extra else scenario
    raw = run_timelines(
        target,
        runs,
        seed,
        use_posterior=use_posterior,
        keep_timelines=False,
        progress=progress,
    )
    return fidelity_from_holds(target, raw.aggregates.fact_holds, runs, seed)


def history_json(report: dict[str, Any]) -> str:
    """The report as JSON text (no NaN)."""
    return json.dumps(report, allow_nan=False)

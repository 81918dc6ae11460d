"""Results as tables: rows of dicts, and the DataFrames built from them.

Data in, data out. The API and the exports share these, so a DataFrame in Jupyter, a Parquet
file and a CSV file of the same result hold the same columns:

- :func:`rows_frame` turns result rows (``{"id", ..., "ci": [lo, hi]}``) into a DataFrame indexed
  by ``id`` with ``ci_low`` and ``ci_high`` columns;
- :func:`event_effects` gives, per event, how often it fires in each world of paired timelines
  and the change, with its paired 95% interval;
- :func:`timeline_table` gives one row per timeline and world: the timeline's number, the world,
  its parameters, outcomes and each event's first month ("YYYY-MM", empty when it never fired)
  and option.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.analysis.effects import paired_effect
from kremlinology.engine.simulate import outcome_kind
from kremlinology.months import format_month
from kremlinology.scenario.expressions import Categorical
from kremlinology.scenario.model import Scenario

if TYPE_CHECKING:
    import pandas as pd


def rows_frame(rows: Sequence[dict[str, Any]], index: str = "id") -> pd.DataFrame:
    """A DataFrame of result rows, indexed by ``index``; an interval ``ci`` becomes two columns
    ``ci_low`` and ``ci_high`` (nothing else is dropped or renamed)."""
    import pandas as pd

    frame = pd.DataFrame([dict(row) for row in rows])
    if frame.empty:
        return frame
    if "ci" in frame.columns:
        bounds = [list(ci) if ci is not None else [None, None] for ci in frame.pop("ci")]
        frame[["ci_low", "ci_high"]] = pd.DataFrame(bounds, index=frame.index)
    return frame.set_index(index) if index in frame.columns else frame


def event_effects(
    scenario: Scenario, factual_first: np.ndarray, whatif_first: np.ndarray
) -> list[dict[str, Any]]:
    """One row per event (scenario order): the share of paired timelines where it fired in each
    world (``baseline``, ``whatif``), the change ``delta`` and its paired 95% interval ``ci``,
    and ``changed`` (the share of pairs where it fired in one world only).

    ``factual_first`` and ``whatif_first`` are ``(events, timelines)`` first firing months, -1
    where the event never fired; column ``k`` of one is paired with column ``k`` of the other.
    """
    rows = []
    for event in scenario.events:
        before = (factual_first[event.index] >= 0).astype(np.float64)
        after = (whatif_first[event.index] >= 0).astype(np.float64)
        if before.size == 0:
            continue
        rows.append({"id": event.id, "label": event.label, **paired_effect(before, after, True)})
    return rows


def timeline_table(
    scenario: Scenario,
    worlds: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    timelines: np.ndarray,
    parameters: np.ndarray,
) -> pd.DataFrame:
    """One row per timeline and world.

    ``worlds`` holds ``(name, outcomes, first, option)`` per world: outcomes ``(outcomes, n)``,
    first firing months and options ``(events, n)``. ``timelines`` are the ``n`` timeline numbers
    and ``parameters`` their ``(parameters, n)`` values, shared by the worlds. Columns:
    ``timeline``, ``world``, ``param:ID``, ``outcome:ID``, ``event:ID`` (first month or None) and,
    for events with options, ``option:ID`` (None when it never fired).
    """
    import pandas as pd

    parts = []
    for name, outcomes, first, option in worlds:
        columns: dict[str, Any] = {
            "timeline": timelines.astype(np.int64),
            "world": [name] * int(timelines.size),
        }
        for p, parameter in enumerate(scenario.parameters):
            columns[f"param:{parameter.model.id}"] = parameters[p]
        for o, outcome in enumerate(scenario.outcomes):
            columns[f"outcome:{outcome.id}"] = _outcome_column(scenario, o, outcomes[o])
        months = _month_names(scenario, first)
        for event in scenario.events:
            columns[f"event:{event.id}"] = months[event.index]
            if event.options:
                names = [o.id for o in event.options]
                columns[f"option:{event.id}"] = [
                    names[int(code)] if month >= 0 else None
                    for code, month in zip(option[event.index], first[event.index], strict=True)
                ]
        parts.append(pd.DataFrame(columns))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _outcome_column(scenario: Scenario, index: int, values: np.ndarray) -> Any:
    """Outcome values as a table shows them: categories by name, booleans as bool."""
    kind = outcome_kind(scenario, index)
    if kind == "categorical":
        kind_of = scenario.outcomes[index].expr.type
        assert isinstance(kind_of, Categorical)
        return [kind_of.domain[int(v)] for v in values]
    if kind == "boolean":
        return values > 0.5
    return values


def _month_names(scenario: Scenario, first: np.ndarray) -> list[list[str | None]]:
    names = {m: format_month(m) for m in np.unique(first).tolist() if m >= 0}
    return [[names.get(int(m)) for m in row] for row in first]

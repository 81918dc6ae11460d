"""Results of a baseline run: outcome and event tables, JSON, and the fidelity to the record."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.version import __version__

if TYPE_CHECKING:
    import pandas as pd
from kremlinology.analysis.intervals import mean_interval, wilson
from kremlinology.engine.simulate import RawRun, outcome_kind
from kremlinology.months import format_month
from kremlinology.scenario.expressions import Categorical
from kremlinology.scenario.model import Scenario


@dataclass
class SimulationResult:
    """The result of ``simulate``: what happened across all timelines of one run.

    ``outcomes()`` and ``events()`` return DataFrames; ``to_json()`` the CLI's JSON object.
    """

    scenario: Scenario
    raw: RawRun

    @property
    def runs(self) -> int:
        """Timelines simulated."""
        return self.raw.runs

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.raw.seed

    def outcome_rows(self) -> list[dict[str, Any]]:
        """Return one row per outcome (categorical outcomes: one per category)."""
        rows: list[dict[str, Any]] = []
        aggregates, runs = self.raw.aggregates, self.raw.runs
        for i, outcome in enumerate(self.scenario.outcomes):
            kind = outcome_kind(self.scenario, i)
            if kind == "categorical":
                assert isinstance(outcome.expr.type, Categorical)
                for code, category in enumerate(outcome.expr.type.domain):
                    count = float(aggregates.category_counts[i][code])
                    rows.append(
                        _row(
                            f"{outcome.id}.{category}",
                            f"{outcome.label}: {self.scenario.value_name(category)}",
                            count / runs,
                            wilson(count, runs),
                            kind,
                        )
                    )
            elif kind == "boolean":
                count = float(aggregates.outcome_sum[i])
                rows.append(
                    _row(outcome.id, outcome.label, count / runs, wilson(count, runs), kind)
                )
            else:
                rows.append(_number_row(outcome.id, outcome.label, self.raw, i))
        return rows

    def event_rows(self) -> list[dict[str, Any]]:
        """Return one row per event: share of timelines where it fired, median first month."""
        rows = []
        aggregates, runs = self.raw.aggregates, self.raw.runs
        for e, event in enumerate(self.scenario.events):
            fired = int(aggregates.fired[e])
            rows.append(
                {
                    "id": event.id,
                    "label": event.label,
                    "p": fired / runs,
                    "median_month": _median_month(aggregates.month_counts[e], self.scenario.start),
                }
            )
        return rows

    def outcomes(self) -> pd.DataFrame:
        """Outcomes as a DataFrame: id, label, p, ci_low, ci_high."""
        import pandas as pd

        frame = pd.DataFrame(self.outcome_rows())
        frame[["ci_low", "ci_high"]] = pd.DataFrame(frame.pop("ci").tolist(), index=frame.index)
        return frame.drop(columns=["kind"]).set_index("id")

    def events(self) -> pd.DataFrame:
        """Events as a DataFrame: id, label, p, median_month."""
        import pandas as pd

        return pd.DataFrame(self.event_rows()).set_index("id")

    def timelines(self) -> pd.DataFrame:
        """Per timeline: each event's first month ("YYYY-MM" or None) and option, and outcomes.

        Available when the run kept its timelines (runs up to 250,000 by default).
        """
        import pandas as pd

        kept = self.raw.timelines
        if kept is None:
            raise ValueError(
                "this run kept streaming aggregates only; rerun with keep_timelines=True"
            )
        columns: dict[str, Any] = {}
        for event in self.scenario.events:
            first = kept.first[event.index]
            columns[event.id] = [format_month(int(m)) if m >= 0 else None for m in first]
            if event.options:
                names = [o.id for o in event.options]
                columns[f"{event.id}:option"] = [
                    names[int(o)] if m >= 0 else None
                    for o, m in zip(kept.option[event.index], first, strict=True)
                ]
        for i, outcome in enumerate(self.scenario.outcomes):
            columns[f"outcome:{outcome.id}"] = kept.outcomes[i]
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, Any]:
        """The run as the CLI's ``run --json`` object (scenario identity, outcomes, events)."""
        return {
            "scenario": self.scenario.describe(),
            "package_version": __version__,
            "runs": self.runs,
            "seed": self.seed,
            "elapsed_s": round(self.raw.elapsed_s, 3),
            "outcomes": [
                {"id": r["id"], "label": r["label"], "p": r["p"], "ci": list(r["ci"])}
                for r in self.outcome_rows()
            ],
            "events": self.event_rows(),
        }

    def to_json(self, indent: int | None = None) -> str:
        """Return the run as one JSON object (months as YYYY-MM)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def _repr_html_(self) -> str:
        table: str = self.outcomes().to_html(float_format=lambda x: f"{x:.3f}")
        return (
            f"<p><b>{self.scenario.manifest.title}</b>: {self.runs:,} timelines, "
            f"seed {self.seed}</p>" + table
        )

    def __repr__(self) -> str:
        return f"<SimulationResult {self.scenario.name}: {self.runs} runs, seed {self.seed}>"


def _row(ident: str, label: str, p: float, ci: tuple[float, float], kind: str) -> dict[str, Any]:
    return {"id": ident, "label": label, "p": p, "ci": ci, "kind": kind}


def _number_row(ident: str, label: str, raw: RawRun, index: int) -> dict[str, Any]:
    runs = raw.runs
    mean = float(raw.aggregates.outcome_sum[index]) / runs
    if raw.timelines is not None:
        ci = mean_interval(raw.timelines.outcomes[index])
    else:
        variance = max(0.0, float(raw.aggregates.outcome_sumsq[index]) / runs - mean * mean)
        half = 1.959963984540054 * math.sqrt(variance * runs / max(runs - 1, 1) / runs)
        ci = (mean - half, mean + half)
    return _row(ident, label, mean, ci, "number")


def _median_month(counts: np.ndarray, start: int) -> str | None:
    total = int(counts.sum())
    if total == 0:
        return None
    index = int(np.searchsorted(np.cumsum(counts), (total + 1) // 2))
    return format_month(start + index)

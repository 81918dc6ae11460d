"""Presentation helpers for the pages: numbers as text, and the geometry of the SVG charts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kremlinology.narrate import numbers
from kremlinology.narrate.causes import chain_lines
from kremlinology.scenario.model import Scenario


@dataclass(frozen=True)
class Margins:
    """Margins around a chart's plot area (SVG user units)."""

    left: int
    right: int
    top: int
    bottom: int


CHART_MARGINS = Margins(48, 16, 12, 36)
"""The divergence chart's margins."""
BAR_WIDTH = 200.0  # SVG user units of a full bar in the outcome table


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals (``n/a`` when None)."""
    return numbers.share(value, digits)


def outcome_rows(result: dict[str, Any], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """The outcome table, largest change first, with bar and whisker positions (0..BAR_WIDTH).

    The whisker is the 95% interval of the paired change, drawn around the what-if bar: from
    ``baseline + low`` to ``baseline + high``.
    """
    rows = []
    for row in sorted(result["outcomes"], key=lambda r: -abs(r["delta"])):
        kind = kinds.get(str(row["id"]).split(".")[0], "probability")
        baseline, whatif, delta = float(row["baseline"]), float(row["whatif"]), float(row["delta"])
        low, high = float(row["ci"][0]), float(row["ci"][1])
        show: Callable[[float], str]
        if kind == "probability":
            scale = 1.0
            show = percent
            change = numbers.points(delta)
            interval = numbers.points_interval(low, high)
        else:
            scale = max(abs(baseline), abs(whatif), abs(baseline + low), abs(baseline + high))
            scale = scale * 1.05 if scale > 0 else 1.0
            show = _number
            change = numbers.change(delta)
            interval = numbers.interval(low, high, False)

        def x(value: float, scale: float = scale) -> float:
            return round(max(0.0, min(1.0, value / scale)) * BAR_WIDTH, 2)

        rows.append(
            {
                "id": row["id"],
                "label": row["label"],
                "kind": kind,
                "baseline": show(baseline),
                "whatif": show(whatif),
                "change": change,
                "interval": interval,
                "changed": percent(float(row.get("changed", 0.0))),
                "direction": "up" if delta > 0 else "down" if delta < 0 else "flat",
                "clear": low > 0 or high < 0,
                "bar_baseline": x(baseline),
                "bar_whatif": x(whatif),
                "whisker_low": x(baseline + low),
                "whisker_high": x(baseline + high),
                "scale": "0 to 100%" if kind == "probability" else f"0 to {scale:.2f}",
            }
        )
    return rows


def split_rows(rows: list[dict[str, Any]], limit: int = 12) -> tuple[list, list]:
    """Headline rows (largest changes, leaving out the never-happens ones) and the rest."""

    def idle(row: dict[str, Any]) -> bool:
        return bool(row["kind"] == "probability" and row["baseline"] == row["whatif"] == "0.0%")

    shown = [r for r in rows if not idle(r)][:limit]
    return shown, [r for r in rows if r not in shown]


def chronicle_parts(story: dict[str, Any]) -> dict[str, Any]:
    """A chronicle split at the divergence: the shared past once, then both worlds."""
    start = str(story.get("divergence_month", ""))
    whatif, factual = story.get("whatif", []), story.get("factual", [])
    return {
        "timeline": story.get("timeline"),
        "note": story.get("note", ""),
        "divergence_month": start,
        "before": [e for e in factual if str(e.get("month", "")) < start],
        "whatif": [e for e in whatif if str(e.get("month", "")) >= start],
        "factual": [e for e in factual if str(e.get("month", "")) >= start],
        "departures": sum(bool(e.get("departure")) for e in [*whatif, *factual]),
    }


def why_rows(causes: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any] | None:
    """The why-chain of the typical chronicle's timeline (``Chronicle.causes``), as the page
    lists it."""
    if not causes:
        return None
    found = causes[0]
    return {
        "timeline": found["timeline"],
        "outcome": found["label"],
        "tested": found["events_tested"],
        "lines": chain_lines(scenario, found),
    }


def _number(value: float) -> str:
    return f"{value:.2f}"


def divergence_chart(
    points: list[dict[str, Any]], width: int = 640, height: int = 220
) -> dict[str, Any]:
    """Line chart geometry of the divergence profile (share of twin pairs that differ)."""
    margins = CHART_MARGINS
    left, right = margins.left, margins.right
    top, bottom = margins.top, margins.bottom
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)
    if n == 0:
        return {"empty": True, "width": width, "height": height}

    def x(i: int) -> float:
        return round(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 2)

    def y(share: float) -> float:
        return round(top + plot_h * (1.0 - max(0.0, min(1.0, share))), 2)

    coords = [(x(i), y(float(p["share"]))) for i, p in enumerate(points)]
    line = " ".join(f"{a},{b}" for a, b in coords)
    area = f"M{coords[0][0]},{y(0)} " + " ".join(f"L{a},{b}" for a, b in coords)
    area += f" L{coords[-1][0]},{y(0)} Z"
    step = max(1, -(-n // 8))
    ticks: list[dict[str, Any]] = [
        {"x": x(i), "label": str(points[i]["month"])} for i in range(0, n, step)
    ]
    if ticks[-1]["label"] != str(points[-1]["month"]) and n > 1:
        if coords[-1][0] - ticks[-1]["x"] < 60:
            ticks.pop()
        ticks.append({"x": x(n - 1), "label": str(points[-1]["month"])})
    yticks = [{"y": y(v), "label": f"{v:.0%}"} for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    dots = [
        {"x": a, "y": b, "title": f"{points[i]['month']}: {float(points[i]['share']):.1%}"}
        for i, (a, b) in enumerate(coords)
    ]
    return {
        "empty": False,
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": top + plot_h,
        "line": line,
        "area": area,
        "ticks": ticks,
        "yticks": yticks,
        "dots": dots,
        "peak": max(float(p["share"]) for p in points),
    }


def driver_rows(result: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """Drivers grouped by outcome (in the order given): [{outcome, factors: [...]}].

    ``names`` maps a factor (``event plot``, ``parameter luck``) to a readable label; a driver's
    own ``label`` comes first. ``importance`` is the signed effect, ``bar`` its size.
    """
    labels = {row["id"]: row["label"] for row in result["outcomes"]}
    groups: dict[str, dict[str, Any]] = {}
    for row in result["drivers"]:
        kind, name = str(row["kind"]), str(row["factor"])
        effect = float(row["effect"])
        group = groups.setdefault(
            row["outcome"], {"outcome": labels.get(row["outcome"], row["outcome"]), "factors": []}
        )
        group["factors"].append(
            {
                "kind": kind,
                "factor": row.get("label") or names.get(f"{kind} {name}") or name,
                "id": name,
                "importance": f"{effect:+.2f}",
                "bar": round(max(0.0, min(1.0, abs(effect))) * 100, 1),
            }
        )
    return list(groups.values())


def history_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts of a fidelity report, as the history page lists them."""
    return [
        {**fact, "share": percent(float(fact["p"])), "bar": round(float(fact["p"]) * 100, 1)}
        for fact in report["facts"]
    ]


def attribute_lines(attributes: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Flatten an actor's attributes to dotted names with readable values (and range bars)."""
    lines: list[dict[str, Any]] = []
    for name, value in attributes.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and "value" in value:
            text = _scalar(value["value"])
            if "values" in value:
                values = value["values"]
                choices = (
                    "every actor or none" if values == "actors" else ", ".join(map(str, values))
                )
                text += f" (one of: {choices})"
            elif "min" in value or "max" in value:
                text += f" (range {_scalar(value.get('min', '-inf'))} to "
                text += f"{_scalar(value.get('max', 'inf'))})"
            lines.append({"name": dotted, "value": text, "bar": _bar(value)})
        elif isinstance(value, dict):
            lines += attribute_lines(value, dotted + ".")
        else:
            lines.append({"name": dotted, "value": _scalar(value), "bar": None})
    return lines


def _bar(spec: dict[str, Any]) -> float | None:
    """Where a ranged number sits in its range, as a percentage (None if it has no range)."""
    try:
        low, high = float(spec["min"]), float(spec["max"])
        value = spec["value"]
        if isinstance(value, bool) or high <= low:
            return None
        share = (float(value) - low) / (high - low)
    except (KeyError, TypeError, ValueError):
        return None
    return round(max(0.0, min(1.0, share)) * 100, 1)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def prior_text(prior: dict[str, Any]) -> str:
    """A parameter's prior in words."""
    dist = prior.get("dist", "?")
    if dist == "categorical":
        pairs = zip(prior.get("values", []), prior.get("probs", []), strict=False)
        return "categorical: " + ", ".join(f"{v} {p:.0%}" for v, p in pairs)
    args = ", ".join(f"{k}={v}" for k, v in prior.items() if k != "dist")
    return f"{dist}({args})"

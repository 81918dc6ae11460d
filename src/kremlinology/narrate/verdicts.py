"""Verdicts in plain words: the sentences and the notebook table that go with a what-if or a claim.

Contract: every function reads a result of :mod:`kremlinology.counterfactual` (data only) and
returns text; none computes anything the result does not already hold.
"""

from __future__ import annotations

from html import escape

from kremlinology.counterfactual.claims import ClaimResult
from kremlinology.counterfactual.interventions import describe
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.narrate import numbers

NOTABLE = 0.005
"""Changes smaller than half a percentage point (or 0.005) are not worth a sentence."""


def whatif_verdict(result: WhatIfResult, limit: int = 3) -> list[str]:
    """A few plain sentences on the ``limit`` largest changes (at least one sentence)."""
    sentences = []
    for row in result.sorted_outcomes()[:limit]:
        if abs(row["delta"]) < NOTABLE:
            continue
        low, high = row["ci"]
        sure = "clearly" if low > 0 or high < 0 else "possibly"
        if row.get("kind", "boolean") == "number":
            direction = "higher" if row["delta"] > 0 else "lower"
            sentences.append(
                f"{row['label']} is {sure} {direction}: {numbers.number(row['baseline'])} -> "
                f"{numbers.number(row['whatif'])} (change {numbers.change(row['delta'])}, 95% "
                f"interval {numbers.interval(low, high, False)})."
            )
            continue
        direction = "more" if row["delta"] > 0 else "less"
        sentences.append(
            f"{row['label']} becomes {sure} {direction} likely: {numbers.share(row['baseline'])} "
            f"-> {numbers.share(row['whatif'])} (change {numbers.points(row['delta'])}, 95% "
            f"interval {numbers.points_interval(low, high)})."
        )
    if not sentences:
        sentences.append("No outcome changes by more than half a percentage point.")
    return sentences


def whatif_html(result: WhatIfResult) -> str:
    """An HTML table of every outcome, largest change first (for Jupyter)."""
    cells = []
    for r in result.sorted_outcomes():
        binary = r.get("kind", "boolean") != "number"
        cells.append(
            f"<tr><td>{escape(r['label'], quote=False)}</td>"
            f"<td>{numbers.value(r['baseline'], binary)}</td>"
            f"<td>{numbers.value(r['whatif'], binary)}</td>"
            f"<td>{numbers.delta(r['delta'], binary)}</td>"
            f"<td>{numbers.interval(r['ci'][0], r['ci'][1], binary)}</td></tr>"
        )
    rows = "".join(cells)
    twin = result.twin
    title = escape(describe(result.interventions), quote=False)
    return (
        f"<p><b>{title}</b>: {twin.kept:,} of {twin.runs:,} "
        "timelines kept</p><table><tr><th>outcome</th><th>baseline</th><th>what-if</th>"
        f"<th>change</th><th>95% interval</th></tr>{rows}</table>"
    )


def claim_verdict(result: ClaimResult) -> str:
    """One sentence on whether the cause was necessary (and, if known, sufficient)."""
    pn, ps = result.necessity["p"], result.sufficiency["p"]
    if pn is None:
        return "The record's pairing never happens in these timelines; the claim cannot be tested."
    strength = "necessary" if pn >= 0.5 else "not necessary"
    tail = (
        ""
        if ps is None
        else (
            f"; imposing the cause brings the effect about in {ps:.0%} of the worlds that "
            "had neither"
        )
    )
    return (
        f"The cause was {strength} for the effect: removing it undoes the effect in {pn:.0%} "
        f"of the worlds where both happened{tail}."
    )


def claim_html(result: ClaimResult) -> str:
    """A small verdict card for Jupyter: the claim, PN and PS with their intervals, the verdict."""

    def share(part: dict[str, object], name: str) -> str:
        p, ci, n = part.get("p"), part.get("ci"), part.get("timelines", 0)
        if p is None or not isinstance(ci, list | tuple):
            return f"<tr><td>{name}</td><td colspan='2'>not testable (no such worlds)</td></tr>"
        return (
            f"<tr><td>{name}</td><td>{float(p):.0%}</td>"  # type: ignore[arg-type]
            f"<td>[{float(ci[0]):.0%}, {float(ci[1]):.0%}] of {n:,} worlds</td></tr>"
        )

    effect = escape(result.effect.text(), quote=False)
    cause = escape(result.cause.text(), quote=False)
    return (
        "<div style='border:1px solid #ccc;border-radius:6px;padding:8px 12px;max-width:40em'>"
        f"<p><b>Claim</b>: {effect} <i>because</i> {cause}</p>"
        "<table><tr><th></th><th>p</th><th>95% interval</th></tr>"
        f"{share(result.necessity, 'necessary (PN)')}"
        f"{share(result.sufficiency, 'sufficient (PS)')}</table>"
        f"<p>{escape(claim_verdict(result), quote=False)}</p></div>"
    )

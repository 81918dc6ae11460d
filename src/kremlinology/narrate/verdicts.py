"""Verdicts in plain words: the sentences and the notebook table that go with a what-if or a claim.

Contract: every function reads a result of :mod:`kremlinology.counterfactual` (data only) and
returns text; none computes anything the result does not already hold.
"""

from __future__ import annotations

from html import escape

from kremlinology.counterfactual.claims import ClaimResult
from kremlinology.counterfactual.interventions import describe
from kremlinology.counterfactual.query import WhatIfResult

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
                f"{row['label']} is {sure} {direction}: {row['baseline']:.2f} -> "
                f"{row['whatif']:.2f} (change {row['delta']:+.2f}, 95% interval "
                f"{low:+.2f} to {high:+.2f})."
            )
            continue
        direction = "more" if row["delta"] > 0 else "less"
        sentences.append(
            f"{row['label']} becomes {sure} {direction} likely: {row['baseline']:.0%} -> "
            f"{row['whatif']:.0%} (change {row['delta']:+.0%}, 95% interval {low:+.0%} to "
            f"{high:+.0%})."
        )
    if not sentences:
        sentences.append("No outcome changes by more than half a percentage point.")
    return sentences


def whatif_html(result: WhatIfResult) -> str:
    """An HTML table of every outcome, largest change first (for Jupyter)."""
    rows = "".join(
        f"<tr><td>{escape(r['label'], quote=False)}</td><td>{r['baseline']:.3f}</td>"
        f"<td>{r['whatif']:.3f}</td><td>{r['delta']:+.3f}</td>"
        f"<td>[{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]</td></tr>"
        for r in result.sorted_outcomes()
    )
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

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

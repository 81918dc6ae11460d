"""Sentences for actual-cause chains (``counterfactual.why``): one line per link, by label."""

from __future__ import annotations

from typing import Any

from kremlinology.months import month_words, parse_month
from kremlinology.scenario.model import Scenario


def chain_lines(scenario: Scenario, chain: dict[str, Any]) -> list[str]:
    """The chain of a ``CauseChain.to_dict()`` as plain lines, earliest cause first."""
    labels = {e.id: e.label for e in scenario.events}
    options = {e.id: {o.id: o.label for o in e.options} for e in scenario.events}
    outcome = chain["label"]
    if not chain["chain"]:
        return [
            f"No single event was necessary for '{outcome}' in timeline {chain['timeline']}: "
            f"blocking any one of the {chain['events_tested']} events before it leaves it as it "
            "was (it has several sufficient causes, or none of the events made it)."
        ]
    lines = []
    for link in chain["chain"]:
        what = labels[link["event"]]
        if link["option"] is not None:
            what += f" ({options[link['event']].get(link['option'], link['option'])})"
        after = [outcome if e == chain["outcome"] else labels.get(e, e) for e in link["leads_to"]]
        line = f"{month_words(parse_month(link['month']))}: {what}"
        if link["because"]:
            line += ", made possible by " + "; ".join(labels[e] for e in link["because"])
        lines.append(
            line + "; without it, " + " / ".join(after) + " would not have gone as it did."
        )
    return lines

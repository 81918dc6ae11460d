"""Actual-cause chains of one timeline, from but-for tests (data in, data out).

The counterfactual layer (``counterfactual.why``) blocks, one at a time, each event that fired in
a timeline before an outcome was read, with the same draws, and records what was lost. This module
turns those records into the chain: the events without which the outcome would have been
different (but-for causes), each linked to the causes it needed and the ones it led to.

Terms: an *occurrence* is an event's first firing in the timeline, at its month and with its
option. Blocking ``D`` *undoes* an occurrence ``C`` when, in the world without ``D``, ``C`` has not
happened by its month with the same option. ``D`` is a link to ``C`` when it undoes ``C`` and no
other cause lies between them (the transitive reduction of "undoes" among the causes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Occurrence:
    """An event's first firing in one timeline: its month and option code (-1: no options)."""

    event: int
    month: int
    option: int


@dataclass(frozen=True)
class ButFor:
    """What blocking one occurrence's event did to the timeline."""

    blocked: Occurrence
    outcomes: np.ndarray  # (outcomes,) the outcome values without it
    first: np.ndarray  # (events,) first firing months without it (-1: never)
    option: np.ndarray  # (events,) options without it


def undone(test: ButFor, occurrence: Occurrence) -> bool:
    """Whether, without ``test.blocked``'s event, ``occurrence`` did not happen by its month
    with the same option."""
    month = int(test.first[occurrence.event])
    if month < 0 or month > occurrence.month:
        return True
    return occurrence.option >= 0 and int(test.option[occurrence.event]) != occurrence.option


def chain(
    occurrences: list[Occurrence],
    tests: list[ButFor],
    outcome: int,
    value: float,
) -> list[dict[str, Any]]:
    """The causes of outcome ``outcome`` (index into the outcome values) having ``value``.

    ``tests[i]`` is the but-for test of ``occurrences[i]``. Returns the causes in month order:
    ``{event, month, option, without: value, because: [event ids...], leads_to: [...]}`` with
    engine indices (``because``/``leads_to`` hold indices of events; the outcome is ``None`` in
    ``leads_to``).
    """
    causes = [i for i, test in enumerate(tests) if not _same(float(test.outcomes[outcome]), value)]
    undoes = {i: {j for j in causes if j != i and undone(tests[i], occurrences[j])} for i in causes}
    links = {
        i: {j for j in undoes[i] if not any(j in undoes[k] for k in undoes[i] if k != j)}
        for i in causes
    }
    rows: list[dict[str, Any]] = []
    for i in sorted(causes, key=lambda c: (occurrences[c].month, occurrences[c].event)):
        before = sorted((k for k in causes if i in links[k]), key=lambda c: occurrences[c].month)
        after: list[int | None] = [
            occurrences[k].event for k in sorted(links[i], key=lambda c: occurrences[c].month)
        ]
        rows.append(
            {
                "event": occurrences[i].event,
                "month": occurrences[i].month,
                "option": occurrences[i].option,
                "without": float(tests[i].outcomes[outcome]),
                "because": [occurrences[k].event for k in before],
                "leads_to": after or [None],
            }
        )
    return rows


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b

"""Chronicles of the thaw worth reading (issue 15 §3), over 200 random timelines of 5 what-ifs.

In each chronicle: no sentence is told more than twice, no sentence names its own month (every
format prints it beside the entry), no sentence refers to an event that has not yet happened in
that world, and every actor is written as the actors file writes them. The typical timeline's
what-if world has at most two entries a month on average.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

import kremlinology.api as k
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.counterfactual.replay import Replayer
from kremlinology.months import MONTH_NAMES, parse_month
from kremlinology.narrate.chronicle import Chronicle, Entry, chronicle

WHATIFS = (
    "beria_detects_coup",
    "no_secret_speech",
    "no_suez",
    "malenkov_survives_1955",
    "zhukov_backs_antiparty_group",
)
pytestmark = pytest.mark.slow  # five thaw what-ifs and 205 replayed timelines: about a minute

RUNS, SEED, PER_WHATIF = 400, 3, 40
REFERS_TO = {
    # phrase in a sentence -> the events one of which must have happened by that month
    "Suez": ("suez_overlap",),
    "Secret Speech": ("secret_speech",),
    "war over Cuba": ("cmc_quarantine",),
}
_DATE = re.compile(rf"\b({'|'.join(MONTH_NAMES)}) \d{{4}}\b|\b1[89]\d\d-\d\d\b")


@pytest.fixture(scope="module")
def told() -> list[tuple[WhatIfResult, Chronicle]]:
    found = []
    for query in WHATIFS:
        result = k.whatif(query, "thaw", RUNS, SEED)
        replayer = Replayer(result.twin)
        timelines = [int(t) for t in result.twin.timelines]
        chosen = random.Random(query).sample(timelines, PER_WHATIF)
        replayer.prefetch(chosen)
        for timeline in chosen:
            found.append((result, chronicle(result, timeline=timeline, replayer=replayer)))
        found.append((result, chronicle(result, pick="typical", replayer=replayer)))
    return found


def worlds(story: Chronicle) -> list[list[Entry]]:
    return [story.whatif, story.factual]


def test_there_are_200_random_timelines(told: list[tuple[WhatIfResult, Chronicle]]) -> None:
    assert sum(story.pick is None for _, story in told) == 5 * PER_WHATIF


def test_no_sentence_repeats_more_than_twice(told: list[tuple[WhatIfResult, Chronicle]]) -> None:
    worst = 0
    for _, story in told:
        for entries in worlds(story):
            text, count = Counter(e.text for e in entries).most_common(1)[0]
            worst = max(worst, count)
            assert count <= 2, (story.query, story.timeline, text)
    assert worst >= 1


def test_dates_appear_once_per_entry(told: list[tuple[WhatIfResult, Chronicle]]) -> None:
    for _, story in told:
        for entries in worlds(story):
            for entry in entries:
                if " in all since " in entry.text:
                    continue  # a routine line names the month it was first told
                assert not _DATE.search(entry.text), (entry.month, entry.text)


def test_no_entry_refers_to_a_later_event(told: list[tuple[WhatIfResult, Chronicle]]) -> None:
    checked = 0
    for _, story in told:
        for entries in worlds(story):
            first: dict[str, str] = {}
            for entry in entries:
                for month, event, _ in entry.firings():
                    first.setdefault(event, month)
            for entry in entries:
                for phrase, needs in REFERS_TO.items():
                    if phrase in entry.text:
                        checked += 1
                        assert any(first.get(e, "9999") <= entry.month for e in needs), (
                            story.query,
                            story.timeline,
                            entry.month,
                            entry.text,
                        )
    assert checked > 0


def test_actors_are_written_as_the_actors_file_writes_them(
    told: list[tuple[WhatIfResult, Chronicle]],
) -> None:
    scenario = told[0][0].scenario
    names = {a.name for a in scenario.actors} | {
        a.name.split()[-1] for a in scenario.actors if a.kind == "person"
    }
    patterns = [(name, re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)) for name in names]
    seen = 0
    for _, story in told:
        texts = [story.note] + [e.text for entries in worlds(story) for e in entries]
        for text in texts:
            for name, pattern in patterns:
                for match in pattern.finditer(text):
                    seen += 1
                    assert match.group(0) == name, (text, name)
    assert seen > 1000


def test_typical_timeline_has_at_most_two_entries_a_month(
    told: list[tuple[WhatIfResult, Chronicle]],
) -> None:
    for _, story in told:
        if story.pick != "typical":
            continue
        months = parse_month("1964-12") - parse_month("1953-03") + 1
        assert len(story.whatif) / months <= 2.0, (story.query, len(story.whatif))
        assert len(story.factual) / months <= 2.0, (story.query, len(story.factual))

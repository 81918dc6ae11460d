"""A chronicle in the formats other timeline tools read: TimelineJS 3 and Aeon Timeline.

Formats only: each function reads a told :class:`~kremlinology.narrate.chronicle.Chronicle` and
the what-if it comes from (to replay who held which office when), and returns data or text.

- :func:`timelinejs` is a TimelineJS 3 JSON object: a title slide, one slide per entry of the
  what-if world (``start_date`` year and month, the entry's sentence, its ``group``: the name of
  the event's first actor, the period's closest thing to a faction), and ``eras`` for the holders
  of the scenario's first office (in the Thaw: the First Secretary), one era per holder in turn.
- :func:`aeon_csv` is a CSV for Aeon Timeline's import: one row per entry of both worlds, with an
  ``ID`` that depends only on the scenario, the question, the seed, the timeline, the world, the
  event and its month, so importing a new export of the same chronicle updates the rows instead of
  duplicating them.

:func:`write_table` writes a result's table of timelines (``analysis.tables``) as Parquet or CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kremlinology.counterfactual.replay import Firing, Replayer
from kremlinology.months import format_month, month_words, parse_month

if TYPE_CHECKING:
    import pandas as pd

    from kremlinology.counterfactual.query import WhatIfResult
    from kremlinology.narrate.chronicle import Chronicle, Entry
    from kremlinology.scenario.model import Scenario

WORLDS = {"whatif": "What-if world", "factual": "As history went"}
AEON_COLUMNS = ("ID", "Title", "Start Date", "End Date", "Summary", "Tags", "World", "Event")


def _date(month: int) -> dict[str, str]:
    text = format_month(month)
    return {"year": text[:4], "month": str(int(text[5:7])), "display_date": month_words(month)}


def _names(scenario: Scenario) -> dict[str, str]:
    return {actor.id: actor.name for actor in scenario.actors}


def _group(scenario: Scenario, event_id: str, names: dict[str, str]) -> str:
    event = next(e for e in scenario.events if e.id == event_id)
    first = event.actors[0] if event.actors else None
    return names.get(first, "The world") if first is not None else "The world"


def eras(scenario: Scenario, firings: list[Firing]) -> list[dict[str, Any]]:
    """Holders of the scenario's first office in turn, as TimelineJS eras (start, end, name):
    each era runs from the first firing that recorded its holder to the next holder's first
    firing (the last to the scenario's end). Empty when the scenario has no office."""
    if not scenario.offices:
        return []
    office = next(iter(scenario.offices))
    domain, names = scenario.actor_domain, _names(scenario)
    turns: list[tuple[int, str]] = []
    for firing in sorted(firings, key=lambda f: f.month):
        if not firing.holders:
            continue
        holder = domain[firing.holders[0]]
        if not turns or turns[-1][1] != holder:
            turns.append((firing.month, holder))
    title = office.replace("_", " ").replace(".", ": ")
    found = []
    for i, (start, holder) in enumerate(turns):
        end = turns[i + 1][0] if i + 1 < len(turns) else scenario.end
        found.append(
            {
                "start_date": _date(start),
                "end_date": _date(max(start, end)),
                "text": {"headline": f"{names.get(holder, holder)} ({title})"},
            }
        )
    return found


def timelinejs(result: WhatIfResult, story: Chronicle) -> dict[str, Any]:
    """The what-if world of ``story`` as a TimelineJS 3 JSON object (see the module docstring)."""
    scenario = result.scenario
    names = _names(scenario)
    _factual, whatif = Replayer(result.twin).replay(story.timeline)
    slides = [
        {
            "start_date": _date(parse_month(entry.month)),
            "text": {"headline": _headline(scenario, entry), "text": entry.text},
            "group": _group(scenario, entry.event, names),
            "unique_id": stable_id(story, result.twin.seed, "whatif", entry),
        }
        for entry in story.whatif
    ]
    return {
        "title": {
            "text": {
                "headline": story.title,
                "text": f"Timeline {story.timeline} of {scenario.manifest.title}: "
                + "; ".join(story.interventions),
            }
        },
        "events": slides,
        "eras": eras(scenario, whatif),
    }


def _headline(scenario: Scenario, entry: Entry) -> str:
    event = next(e for e in scenario.events if e.id == entry.event)
    if entry.option is None:
        return event.label
    option = next((o for o in event.options if o.id == entry.option), None)
    return f"{event.label}: {option.label if option is not None else entry.option}"


def stable_id(story: Chronicle, seed: int, world: str, entry: Entry) -> str:
    """An id that names one entry of one chronicle (scenario, question, seed, timeline, world,
    event, month), the same in every export of it and different in any other chronicle."""
    key = "|".join(
        [
            story.scenario,
            story.query,
            str(seed),
            str(story.timeline),
            world,
            entry.event,
            entry.month,
        ]
    )
    return "k-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def aeon_csv(result: WhatIfResult, story: Chronicle) -> str:
    """Both worlds of ``story`` as CSV rows for Aeon Timeline's import (see the module
    docstring); dates as YYYY-MM-01, each entry one month long."""
    scenario = result.scenario
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AEON_COLUMNS)
    for world, listed in (("whatif", story.whatif), ("factual", story.factual)):
        for entry in listed:
            month = parse_month(entry.month)
            writer.writerow(
                [
                    stable_id(story, result.twin.seed, world, entry),
                    _headline(scenario, entry),
                    f"{entry.month}-01",
                    f"{format_month(month + 1)}-01",
                    entry.text,
                    "departure" if entry.departure else "",
                    WORLDS[world],
                    entry.event,
                ]
            )
    return out.getvalue()


TABLE_FORMATS = (".parquet", ".csv")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table to ``path`` as Parquet (``.parquet``, via pyarrow) or CSV (``.csv``), whole
    or not at all (written beside it, then renamed). Raises ValueError for another suffix and
    OSError when the folder cannot be written."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ValueError(f"--timelines-out must end in .parquet or .csv, not '{path.name}'")
    staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if suffix == ".parquet":
            frame.to_parquet(staging, engine="pyarrow", index=False)
        else:
            frame.to_csv(staging, index=False)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path

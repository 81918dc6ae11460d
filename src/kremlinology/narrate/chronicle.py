"""Chronicles: one timeline of a what-if, told month by month in both of its worlds.

The firings come from :mod:`kremlinology.counterfactual.replay` (the very timeline the ensemble
simulated, replayed on its own); this module only chooses the timeline and turns firings into
dated sentences, and renders them through :mod:`kremlinology.narrate.formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.counterfactual.replay import Firing, Replayer, TimelineError
from kremlinology.counterfactual.why import timeline_causes
from kremlinology.months import format_month, month_words, parse_month
from kremlinology.narrate import formats
from kremlinology.narrate.families import families, surprising
from kremlinology.narrate.templates import Narrator
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import Scenario

PICKS = ("typical", "surprising")
FORMATS = ("text", "markdown", "bbcode", "html", "json")


class ChronicleError(KremlinologyError):
    """A chronicle that cannot be told: unknown timeline, pick or format."""


@dataclass(frozen=True)
class Entry:
    """One dated sentence of a chronicle and the event behind it."""

    month: str  # YYYY-MM
    event: str
    option: str | None
    text: str
    departure: bool  # not in the other world at the same month (with the same option)
    earlier: tuple[str, ...] = ()
    """For a routine line: the earlier months (YYYY-MM) in which the same sentence was due and
    was folded into this one; the entry's own month is the last time it happened."""

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (``earlier`` only on a routine line)."""
        data: dict[str, Any] = {
            "month": self.month,
            "event": self.event,
            "option": self.option,
            "text": self.text,
            "departure": self.departure,
        }
        if self.earlier:
            data["earlier"] = list(self.earlier)
        return data

    def firings(self) -> list[tuple[str, str, str | None]]:
        """The firings (month, event, option) this entry tells: one, or a routine line's
        earlier returns and its own month."""
        return [(m, self.event, self.option) for m in (*self.earlier, self.month)]


@dataclass
class Chronicle:
    """A timeline of a what-if in both worlds, each a list of dated entries."""

    timeline: int
    query: str
    title: str
    interventions: list[str]
    divergence_month: str
    whatif: list[Entry]
    factual: list[Entry]
    pick: str | None = None  # "typical", "surprising", or None for a timeline chosen by index
    note: str = ""
    scenario: str = ""
    prose: str | None = None  # checked prose from a language model (``--narrator openai``)
    extra: dict[str, Any] = field(default_factory=dict)
    causes: list[dict[str, Any]] | None = None
    """Why-chains of this timeline (``counterfactual.why.timeline_causes``), when asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The chronicle as a JSON-ready dict (the ``--format json`` object)."""
        data: dict[str, Any] = {
            "timeline": self.timeline,
            "query": self.query,
            "title": self.title,
            "scenario": self.scenario,
            "pick": self.pick,
            "note": self.note,
            "interventions": list(self.interventions),
            "divergence_month": self.divergence_month,
            "whatif": [e.to_dict() for e in self.whatif],
            "factual": [e.to_dict() for e in self.factual],
        }
        if self.prose is not None:
            data["prose"] = self.prose
        if self.causes is not None:
            data["causes"] = self.causes
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The chronicle as JSON text (non-ASCII kept)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _repr_html_(self) -> str:
        """Jupyter's display: the chronicle as dated paragraphs (``render("html")``)."""
        return self.render("html")

    def render(self, fmt: str = "text") -> str:
        """Return the chronicle as text, markdown, bbcode, html or json."""
        if fmt == "json":
            return self.to_json() + "\n"
        renderers = {
            "text": formats.text,
            "markdown": formats.markdown,
            "bbcode": formats.bbcode,
            "html": formats.html,
        }
        if fmt not in renderers:
            raise ChronicleError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
        return renderers[fmt](self)

    @property
    def departures(self) -> int:
        """How many entries of either world are not matched in the other."""
        return sum(e.departure for e in self.whatif) + sum(e.departure for e in self.factual)


def _replay(replayer: Replayer, timeline: int) -> tuple[list[Firing], list[Firing]]:
    """The replayer's firings, with its TimelineError told as a ChronicleError."""
    try:
        return replayer.replay(timeline)
    except TimelineError as error:
        raise ChronicleError(str(error)) from None


def entries(
    result: WhatIfResult, firings: list[Firing], other: list[Firing], narrator: Narrator
) -> list[Entry]:
    """Turn firings into entries; an entry departs when ``other`` lacks it at that month.

    An event whose template is empty is not told. A sentence that comes back (a routine event:
    a holiday, a harvest, a plan fight) is told in full the first time and then once more, as a
    tally, at the last time it happens (see ``condense``).
    """
    scenario = result.scenario
    others = {(f.month, f.event, f.option) for f in other}
    found = []
    fired: set[str] = set()
    for i, firing in enumerate(firings):
        if i == 0 or firing.month != firings[i - 1].month:
            # Whatever happens in this month has happened "by now" for its sentences.
            fired |= {scenario.events[f.event].id for f in firings if f.month == firing.month}
        event = scenario.events[firing.event]
        option = firing.option if event.options else None
        text = narrator.sentence(
            event, firing.month, option, holders(scenario, firing.holders), fired
        )
        if not text:
            continue
        found.append(
            Entry(
                format_month(firing.month),
                event.id,
                event.options[option].id if option is not None else None,
                text,
                (firing.month, firing.event, firing.option) not in others,
            )
        )
    return condense(found, scenario)


def _ordinal_times(count: int) -> str:
    return {2: "twice"}.get(count, f"{count} times")


def condense(found: list[Entry], scenario: Scenario) -> list[Entry]:
    """Tell each sentence once: a sentence that comes back is kept where it first happens, and
    its later returns fold into one tally line at the last of them, the event named by its label
    as a title (``“The year's harvest (good)”: 4 times in all since September 1954.``), which
    departs when any return departs.

    Nothing is invented: the tally counts firings of this world, and its month is that of the
    last one it counts, so it never speaks of anything later.
    """
    returns: dict[str, list[Entry]] = {}
    first: dict[str, Entry] = {}
    for entry in found:
        if entry.text in first:
            returns.setdefault(entry.text, []).append(entry)
        else:
            first[entry.text] = entry
    last = {text: later[-1] for text, later in returns.items()}
    told: list[Entry] = []
    for entry in found:
        if first[entry.text] is entry:
            told.append(entry)
            continue
        if last[entry.text] is not entry:
            continue
        later = returns[entry.text]
        event = scenario.events[scenario.event_index[entry.event]]
        label = _phrase(event.label)
        if entry.option is not None:
            option = next(o for o in event.options if o.id == entry.option)
            label += f" ({_phrase(option.label)})"
        since = month_words(parse_month(first[entry.text].month))
        label = label[0].upper() + label[1:]
        text = f"\u201c{label}\u201d: {_ordinal_times(len(later) + 1)} in all since {since}."
        told.append(
            Entry(
                entry.month,
                entry.event,
                entry.option,
                text,
                any(e.departure for e in later),
                tuple(e.month for e in later[:-1]),
            )
        )
    return told


def _phrase(text: str) -> str:
    text = " ".join(text.split())
    return text[:-1] if text.endswith(".") else text


def holders(scenario: Scenario, codes: tuple[int, ...]) -> dict[str, str]:
    """Office -> id of its holder, from the codes a firing recorded."""
    domain = scenario.actor_domain
    return {office: domain[c] for office, c in zip(scenario.offices, codes, strict=False)}


def _normalise(firings: list[Firing], result: WhatIfResult) -> list[Firing]:
    events = result.scenario.events
    return [
        Firing(f.month, f.event, f.option if events[f.event].options else None, f.holders)
        for f in firings
    ]


def choose_timeline(result: WhatIfResult, pick: str) -> tuple[int, str]:
    """Return (timeline, why) for ``pick`` in PICKS."""
    if pick == "typical":
        largest = families(result)[0]
        return largest.representative, (
            f"the most typical timeline of the largest family of what-if worlds "
            f"({largest.share:.0%} of them: {largest.label})"
        )
    if pick == "surprising":
        found = surprising(result)
        return found.timeline, (
            f"the least likely timeline that still happened: its course of events is rarer than "
            f"that of any other of the {result.twin.kept:,} what-if worlds"
        )
    raise ChronicleError(f"unknown pick '{pick}'; use one of {', '.join(PICKS)}")


def chronicle(
    result: WhatIfResult,
    timeline: int | None = None,
    pick: str = "typical",
    replayer: Replayer | None = None,
    causes: bool = False,
) -> Chronicle:
    """Tell one timeline of ``result`` in both worlds.

    ``timeline`` is a timeline index among ``result.twin.timelines``; without one, ``pick`` chooses
    the representative of the largest family ("typical") or the least likely timeline
    ("surprising"). Pass a ``Replayer`` of ``result.twin`` to tell several timelines without
    compiling the scenario again. Raises ChronicleError for a timeline or pick it cannot tell.
    """
    if pick not in PICKS:
        raise ChronicleError(f"unknown pick '{pick}'; use one of {', '.join(PICKS)}")
    if timeline is None:
        timeline, note, chosen = *choose_timeline(result, pick), pick
    else:
        if isinstance(timeline, bool) or not isinstance(timeline, int | np.integer):
            raise ChronicleError(f"timeline must be a whole number, not {timeline!r}")
        timeline, note, chosen = int(timeline), "a timeline chosen by its number", None
    replayer = replayer or Replayer(result.twin)
    factual, whatif = (_normalise(w, result) for w in _replay(replayer, timeline))
    narrator = Narrator(result.scenario)
    matched = result.resolved.whatif
    return Chronicle(
        timeline=timeline,
        query=result.resolved.query,
        title=matched.title if matched is not None else result.resolved.query,
        interventions=[item.text() for item in result.interventions],
        divergence_month=format_month(result.twin.divergence),
        whatif=entries(result, whatif, factual, narrator),
        factual=entries(result, factual, whatif, narrator),
        pick=chosen,
        note=note,
        scenario=result.scenario.name,
        causes=timeline_causes(result, timeline, replayer.program) if causes else None,
    )

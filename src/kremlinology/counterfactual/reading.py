"""Reading a question written in words: a catalogue entry, or interventions parsed from it.

Two readings compete for a free-text question:

* **catalogue**: the best-matching what-if entry (``catalogue.score`` on its title, id and aliases);
  when two entries match about equally and one's interventions contain the other's, the larger is
  read (the question names both parts: "Beria caught scent of the plot and purged his rivals");
* **parsed**: an event, or one of an event's options, named by the words of the question (its label
  and id, the names of its actors), with a month or year when one is written: "what if Khrushchev
  died in 1955" reads ``do(death_khrushchev @ 1955-01)`` when the scenario has such an event; words
  of negation ("no", "never", "without") block the event instead; an option is chosen.

Word matching is generic English: lower case, a light stemmer (dies, died, dying -> die) and a
short list of synonyms (support/back, die/death, ...); nothing here knows the period. A reading's
confidence is in 0-1; below :data:`ACCEPT` or without a clear lead over the runner-up the question
is refused with the closest readings, never run silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from kremlinology.counterfactual.interventions import (
    Block,
    Choose,
    Do,
    Intervention,
    InterventionError,
    describe,
    parse_interventions,
)
from kremlinology.months import MONTH_NAMES, format_month
from kremlinology.scenario.model import Scenario
from kremlinology.scenario.schema import WhatIf

ACCEPT = 0.72
"""The lowest confidence at which a reading is run."""
MARGIN = 0.04
"""How far the best reading must lead the runner-up."""
PARSED_ACCEPT = 0.75
"""The share of a question's content words an event's words must cover to be read as it."""
PARSED_RUN = 0.8
"""The lowest confidence at which a parsed reading (not a catalogue entry) is run."""

STOP = {
    "what", "if", "had", "has", "have", "the", "a", "an", "of", "in", "on", "to", "and", "would",
    "happened", "happen", "been", "be", "was", "were", "did", "do", "does", "instead", "s", "his",
    "her", "their", "its", "by", "at", "for", "with", "than", "then", "that", "this", "there",
    "who", "is", "are", "it", "as", "from", "into", "after", "before", "during", "suppose",
    "imagine", "say", "could", "should", "might", "let", "us", "we", "up", "out", "all",
    "got", "get", "him", "them", "gone", "well", "also", "too", "both", "own", "against",
}  # fmt: skip
NEGATION = {"no", "not", "never", "without", "didn", "didnt", "nobody", "none", "fails", "fail"}
SYNONYMS = {
    "support": "back", "backing": "back", "backs": "back", "backed": "back", "supported": "back",
    "supports": "back", "help": "back", "helped": "back", "sides": "back", "side": "back",
    "death": "die", "dead": "die", "died": "die", "dies": "die", "dying": "die", "perish": "die",
    "perished": "die", "passed": "die", "uncover": "detect", "uncovered": "detect",
    "discover": "detect", "discovered": "detect", "learns": "detect", "learned": "detect",
    "detected": "detect", "detects": "detect", "scent": "detect", "catches": "detect",
    "caught": "detect", "purged": "purge", "purges": "purge", "arrested": "arrest",
    "arrests": "arrest", "coup": "plot", "conspiracy": "plot", "plotters": "plot",
    "uprising": "rising", "revolt": "rising", "rebellion": "rising", "stays": "stay",
    "stayed": "stay", "keeps": "keep", "kept": "keep", "wins": "win", "won": "win",
    "invade": "force", "invaded": "force", "invasion": "force", "troops": "force",
    "quits": "quit", "resigns": "quit", "resigned": "quit", "loses": "lose", "lost": "lose",
    "sided": "back", "wind": "detect", "fallen": "fall", "fell": "fall", "falls": "fall",
}  # fmt: skip
_MONTHS = {name.lower(): i for i, name in enumerate(MONTH_NAMES)}
_MONTHS.update({name.lower()[:3]: i for i, name in enumerate(MONTH_NAMES)})
_WHEN = re.compile(
    r"\b(?:(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+)?"
    r"(?P<year>1[0-9]{3}|20[0-9]{2})(?:-(?P<mm>0[1-9]|1[0-2]))?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reading:
    """How a question was read: its interventions, in words, and with what confidence."""

    kind: str  # "catalogue", "parsed", "language" (the intervention language) or "id"
    interventions: list[Intervention]
    text: str
    confidence: float
    whatif: WhatIf | None = None
    alternatives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The ``read_as`` object of the JSON."""
        return {
            "kind": self.kind,
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "interventions": describe(self.interventions),
        }


class ReadingError(InterventionError):
    """A question that no reading matches clearly (the message names the closest)."""


def words(text: str) -> list[str]:
    """Content words of a text: lower case, stemmed, synonyms folded, stop words dropped (months
    and years are kept out too: they are read separately)."""
    found = []
    for raw in re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")):
        if raw in STOP or raw.isdigit() or raw in _MONTHS:
            continue
        found.append(stem(raw))
    return found


def stem(word: str) -> str:
    """A light stem: synonyms folded first, then plural and tense endings."""
    if word in SYNONYMS:
        return SYNONYMS[word]
    for ending, repl in (
        ("ier", "y"),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            base = word[: len(word) - len(ending)] + repl
            return SYNONYMS.get(base, base)
    return word


def _same(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 5 and fuzz.ratio(a, b) >= 85)


def coverage(query: list[str], target: list[str]) -> float:
    """The share of the query's words found in the target (fuzzy for long words); 0 if empty."""
    if not query:
        return 0.0
    return sum(any(_same(q, t) for t in target) for q in query) / len(query)


def when(text: str) -> int | None:
    """A month written in the text (``1955``, ``June 1953``, ``1953-06``) as a month number."""
    found = _WHEN.search(text)
    if found is None:
        return None
    year = int(found.group("year"))
    if found.group("mm"):
        return year * 12 + int(found.group("mm")) - 1
    month = found.group("month")
    return year * 12 + (_MONTHS[month.lower()[:3]] if month else 0)


def negated(text: str) -> bool:
    """Whether the question is about something not happening."""
    tokens = re.findall(r"[a-z']+", text.lower().replace("n't", " not"))
    return any(t in NEGATION for t in tokens)


def _event_words(scenario: Scenario, index: int) -> list[str]:
    event = scenario.events[index]
    names: list[str] = []
    actors = {a.id: a for a in scenario.actors}
    for actor in event.actors:
        if actor in actors:
            names += [actor, *(actors[actor].name or "").split(), actors[actor].short or ""]
    return words(f"{event.label} {event.id} {' '.join(names)}")


def parsed_readings(text: str, scenario: Scenario) -> list[Reading]:
    """Readings of the question as one event (forced or blocked) or one option (chosen)."""
    query = words(text)
    month = when(text)
    negative = negated(text)
    found: list[Reading] = []
    for event in scenario.events:
        base = _event_words(scenario, event.index)
        label = words(event.label)
        score = coverage(query, base)
        if score >= PARSED_ACCEPT and not event.options:
            score *= 0.7 + 0.3 * precision(query, label)
            found.append(_event_reading(scenario, event.index, score, month, negative))
        for option in event.options:
            mine = words(option.label)
            target = base + mine + words(option.id)
            option_score = coverage(query, target)
            # An option must add something of its own, or it is the event read again.
            own = coverage(query, mine + words(option.id))
            if option_score >= PARSED_ACCEPT and own > 0 and not negative:
                exact = precision(query, label + mine)
                found.append(
                    Reading(
                        "parsed",
                        [Choose(event.id, option.id)],
                        f"'{event.label}' takes the option '{option.label}' whenever it happens",
                        option_score * (0.7 + 0.3 * exact),
                    )
                )
    return sorted(found, key=lambda r: -r.confidence)


def _event_reading(
    scenario: Scenario, index: int, score: float, month: int | None, negative: bool
) -> Reading:
    event = scenario.events[index]
    if negative:
        if month is not None and event.first <= month <= event.last:
            return Reading(
                "parsed",
                [Block(event.id, month)],
                f"'{event.label}' cannot happen from {format_month(month)}",
                score,
            )
        return Reading("parsed", [Block(event.id)], f"'{event.label}' never happens", score)
    if month is None:
        return Reading(
            "parsed",
            [],
            f"'{event.label}' forced, but the question gives no month (write a year)",
            score * 0.5,
        )
    if not event.first <= month <= event.last:
        if month // 12 == event.first // 12 and month < event.first:
            month = event.first
        else:
            return Reading(
                "parsed",
                [],
                f"'{event.label}' in {format_month(month)}, outside its window "
                f"({format_month(event.first)} to {format_month(event.last)})",
                score * 0.5,
            )
    return Reading(
        "parsed", [Do(event.id, month)], f"'{event.label}' happens in {format_month(month)}", score
    )


def catalogue_readings(
    text: str, scenario: Scenario, scores: list[tuple[float, WhatIf]]
) -> list[Reading]:
    """Catalogue entries as readings (scores 0-100 from ``catalogue.rank``), best first; when the
    two best are close and one contains the other's interventions, the larger leads."""
    query, negative = words(text), negated(text)
    readings = []
    for fuzzy, entry in scores:
        texts = _texts(entry)
        cover = coverage(query, words(" ".join(texts)))
        exact = max(precision(query, words(t)) for t in texts)
        confidence = 0.35 * fuzzy / 100.0 + 0.65 * cover * (0.85 + 0.15 * exact)
        if negative != any(negated(t) for t in (entry.title, entry.id)):
            confidence -= 0.15  # "no uprising" is not "an uprising"
        items = parse_interventions(entry.intervention, scenario)
        readings.append(Reading("catalogue", items, entry.title, confidence, entry))
    readings.sort(key=lambda r: -r.confidence)
    if len(readings) >= 2:
        first, second = readings[0], readings[1]
        close = first.confidence - second.confidence < MARGIN * 2
        small, large = set(map(str, first.interventions)), set(map(str, second.interventions))
        if close and (small < large or large < small):
            # When the question names the parts the larger entry adds, read the larger.
            wide, narrow = (second, first) if small < large else (first, second)
            wide_cover = coverage(query, words(" ".join(_texts(wide.whatif))))
            if wide_cover > coverage(query, words(" ".join(_texts(narrow.whatif)))):
                lead = max(first.confidence, second.confidence) + MARGIN
                readings = [_with(wide, lead), narrow, *readings[2:]]
    return readings


def precision(query: list[str], target: list[str]) -> float:
    """The share of the target's words the query has (0 if the target is empty)."""
    return coverage(target, query) if target else 0.0


def _texts(entry: WhatIf | None) -> list[str]:
    return [] if entry is None else [entry.title, entry.id, *entry.aliases]


def _with(reading: Reading, confidence: float) -> Reading:
    return Reading(
        reading.kind,
        reading.interventions,
        reading.text,
        min(confidence, 1.0),
        reading.whatif,
        reading.alternatives,
    )


def choose_reading(text: str, candidates: list[Reading]) -> Reading:
    """The reading to run, or ReadingError naming the closest when none is clear."""
    ranked = _agreeing(sorted(candidates, key=lambda r: -r.confidence))
    if not ranked:
        raise ReadingError(f"'{text}' could not be read: this scenario has nothing to match it")
    best = ranked[0]
    runner = next((r for r in ranked[1:] if _differs(r, best)), None)
    closest = "; ".join(f"{_name(r)} (confidence {r.confidence:.2f})" for r in ranked[:3])
    needed = PARSED_RUN if best.kind == "parsed" else ACCEPT
    if not best.interventions or best.confidence < needed:
        raise ReadingError(
            f"'{text}' does not match a known what-if or event clearly (best reading: {best.text}, "
            "confidence "
            f"{best.confidence:.2f}); closest: {closest}. Use an id or write an intervention."
        )
    if runner is not None and best.confidence - runner.confidence < MARGIN:
        raise ReadingError(
            f"'{text}' could mean several things about equally; closest: {closest}. "
            "Use an id or write an intervention."
        )
    return Reading(
        best.kind,
        best.interventions,
        best.text,
        best.confidence,
        best.whatif,
        [_name(r) for r in ranked[1:3]],
    )


def _agreeing(ranked: list[Reading]) -> list[Reading]:
    """Merge readings with the same interventions: the best of them, a little more confident
    (two readings agreeing), named by the catalogue's entry when one is among them."""
    merged: dict[str, list[Reading]] = {}
    for reading in ranked:
        merged.setdefault(describe(reading.interventions) or reading.text, []).append(reading)
    out = []
    for group in merged.values():
        best = max(group, key=lambda r: r.confidence)
        entry = next((r for r in group if r.whatif is not None), best)
        confidence = min(1.0, best.confidence + (0.03 if len(group) > 1 else 0.0))
        out.append(Reading(entry.kind, entry.interventions, entry.text, confidence, entry.whatif))
    return sorted(out, key=lambda r: -r.confidence)


def _differs(a: Reading, b: Reading) -> bool:
    return describe(a.interventions) != describe(b.interventions)


def _name(reading: Reading) -> str:
    if reading.whatif is not None:
        return f"{reading.whatif.id} ({reading.whatif.title})"
    return describe(reading.interventions) if reading.interventions else reading.text

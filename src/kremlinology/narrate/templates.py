"""Chronicle sentences from the scenario's ``narrate:`` templates, or from the event's label.

A template is plain text with placeholders in braces (``{{`` and ``}}`` write literal braces):

- ``{month}``: the month in words (``June 1953``); ``{date}``: the month as ``1953-06``;
  ``{year}``: the year;
- ``{option}``: the label of the option taken;
- ``{actors}``: the names of the event's actors (``Beria, Malenkov and Khrushchev``); an office
  among them names its holder;
- ``{label}``: the event's label;
- ``{OFFICE}`` (e.g. ``{secretariat.first_secretary}``): the name of the office's holder when the
  event fired, before its effects (``no one`` if it was vacant).

- ``{if:EVENT|text}`` and ``{unless:EVENT|text}``: ``text`` only where EVENT has (has not)
  happened in this world by the end of this month, so that no sentence refers to a later event
  (``...{if:suez_overlap|, with the West quarrelling over Suez,}...``); ``text`` holds no braces.

An option's own ``narrate`` is the whole sentence when that option is taken (it replaces the
event's template). An event without any template gets a plain sentence from its label (and the
option's label); an empty template (``narrate: ""``) keeps the event out of chronicles (a
mechanism's bookkeeping, such as a yearly drift, that is no news). Every format prints an
entry's month beside its sentence, so a template need not name the month.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from kremlinology.months import format_month, month_words
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import CompiledEvent, CompiledOption, Scenario

FIELDS = ("month", "date", "year", "option", "actors", "label")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_CONDITION = re.compile(r"\{(if|unless):([^|{}]*)\|([^{}]*)\}")
_ENDS_SENTENCE = (".", "!", "?", "…", '."', '!"', '?"', ".”", "!”", "?”")


class TemplateError(KremlinologyError):
    """A ``narrate:`` template that cannot be filled (unknown placeholder, stray brace)."""


def fill(template: str, values: Mapping[str, str], where: str) -> str:
    """Replace the placeholders of ``template``; raise TemplateError naming ``where``."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise TemplateError(f"{where}: stray '{token}' (write {{{{ or }}}} for a brace)")
        if name not in values:
            raise TemplateError(
                f"{where}: unknown placeholder {{{name}}}; use "
                + ", ".join("{" + f + "}" for f in FIELDS)
                + " or an office"
            )
        return values[name]

    return _TOKEN.sub(replace, template)


def conditions(template: str) -> list[str]:
    """Return the event ids that ``{if:EVENT|...}`` and ``{unless:EVENT|...}`` name, in order."""
    return [m.group(2).strip() for m in _CONDITION.finditer(template)]


def resolve(template: str, fired: Collection[str]) -> str:
    """Keep the text of each condition that holds for the events in ``fired``; drop the rest."""

    def keep(match: re.Match[str]) -> str:
        happened = match.group(2).strip() in fired
        return match.group(3) if happened == (match.group(1) == "if") else ""

    return _CONDITION.sub(keep, template)


def placeholders(template: str) -> list[str]:
    """Return the placeholder names a template uses, in order."""
    return [m.group(1) for m in _TOKEN.finditer(template) if m.group(1) is not None]


def join_names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def finish(text: str) -> str:
    """Collapse spaces, capitalise the first letter and end with a full stop if needed."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith(_ENDS_SENTENCE) else text + "."


def _phrase(text: str) -> str:
    text = " ".join(text.split())
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


class Narrator:
    """Writes the sentence of one firing of an event (month, option) for a scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.names = {a.id: a.name for a in scenario.actors}
        self.names["none"] = "no one"
        self.initial = {
            office: scenario.category(slot, scenario.slots[slot].initial)
            for office, slot in scenario.offices.items()
        }

    def values(
        self,
        event: CompiledEvent,
        month: int,
        option: str,
        holders: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The placeholders' values; ``holders`` maps offices to their holders' ids when the
        event fired (the initial holders where it is not given)."""
        held = {**self.initial, **(holders or {})}
        named = {office: self.names.get(actor, actor) for office, actor in held.items()}
        return {
            "month": month_words(month),
            "date": format_month(month),
            "year": str(month // 12),
            "option": option,
            "actors": join_names([named.get(a) or self.names.get(a, a) for a in event.actors]),
            "label": event.label,
            **named,
        }

    def sentence(
        self,
        event: CompiledEvent,
        month: int,
        option: int | None,
        holders: Mapping[str, str] | None = None,
        fired: Collection[str] = (),
    ) -> str:
        """Return the chronicle sentence of ``event`` firing at ``month`` with ``option``, with
        ``holders`` (office -> actor id) naming who held each office then and ``fired`` the ids
        of the events that have happened in this world by the end of ``month`` (for the
        ``{if:...}`` conditions). An empty string: the event is not told."""
        chosen = event.options[option] if option is not None and event.options else None
        where = f"event '{event.id}'"
        label = chosen.label if chosen is not None else ""
        values = self.values(event, month, label, holders)
        if chosen is not None and chosen.narrate:
            where = f"{where}, option '{chosen.id}'"
            return finish(fill(resolve(chosen.narrate, fired), values, where))
        if event.narrate is not None:
            return finish(fill(resolve(event.narrate, fired), values, where))
        return default_sentence(event, chosen)


def default_sentence(event: CompiledEvent, option: CompiledOption | None) -> str:
    """The sentence of an event without a template: its label and the option taken.

    Every format prints an entry's month beside its sentence, so the sentence need not repeat it.
    """
    text = _phrase(event.label)
    if option is not None:
        text += f" ({_phrase(option.label)})"
    return finish(text)


def check_templates(scenario: Scenario) -> list[str]:
    """Return one line per template problem in ``scenario`` (empty when every template fills)."""
    narrator = Narrator(scenario)
    problems = []
    for event in scenario.events:
        where = f"event '{event.id}'"
        templates = [(where, event.narrate)] + [
            (f"{where}, option '{o.id}'", o.narrate) for o in event.options
        ]
        for place, template in templates:
            if template is None:
                continue
            if "option" in placeholders(template) and not event.options:
                problems.append(f"{place}: template uses {{option}} but the event has no options")
                continue
            unknown = [c for c in conditions(template) if c not in scenario.event_index]
            for ident in unknown:
                problems.append(f"{place}: condition names '{ident}', which is not an event")
            try:
                values = narrator.values(event, scenario.start, "option")
                fill(resolve(template, ()), values, place)
                fill(resolve(template, set(scenario.event_index)), values, place)
            except TemplateError as error:
                problems.append(str(error))
    return problems

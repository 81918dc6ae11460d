"""``for_each`` templates: one definition that generates many items, expanded at load time.

An item of any section except ``actors`` and ``groups`` (and an item of any list inside an item,
such as an event's ``options``) may carry ``for_each``: a mapping from variable names to a list
of values or the id of a group of actors. The item is copied once per combination of values (the
product of the lists, in order, the first variable varying slowest); combinations that give two
variables the same value (or a variable the value of an enclosing template's variable) are skipped
unless ``distinct: false`` is among the mapping's keys. In each
copy, every string (values and mapping keys, at any depth) has ``{var}`` replaced by the value and
``{var.field}`` by a field of that actor: ``id``, ``name``, ``short`` (the ``short`` name the actor
file gives, else the last word of the name), ``kind``, or an attribute's initial value
(``{actor.born}``, ``{actor.power.party}``). Other braces (``{month}``, ``{{``) are left for the
chronicle templates.

Nested templates see the variables of the templates around them and may not reuse their names.
Expansion is bounded: one file may not grow by more than ``MAX_EXPANSION`` generated items, checked
from the sizes of the lists before anything is copied.
Every generated value keeps the position of its template's text, with a context naming the
expansion (``events.yaml:40:12: in for_each actor=molotov: unknown name 'molotv.alive'``), and a
column inside a substituted expression is mapped back onto the template's text.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kremlinology import limits
from kremlinology.scenario.errors import Position, Problem

if TYPE_CHECKING:
    from kremlinology.scenario.loader import SourceFile

PathKey = tuple[str | int, ...]
Span = tuple[int, int, int, int]
"""(start, end) of a substituted token in the generated text and (start, end) in the template."""

KEY = "for_each"
DISTINCT = "distinct"
MAX_EXPANSION = limits.MAX_EXPANDED_ITEMS
"""Most items the templates of one file may generate, nested expansions included (the whole
scenario is held to the same bound after expansion by the loader)."""
MAX_VARIABLES = 4
"""Most variables one ``for_each`` may bind (pairs and triples of actors are enough)."""
FIXED = ("actors", "groups")
"""Sections whose items define what templates range over, so they cannot be templates."""
_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z][a-z0-9_]*)((?:\.[a-z][a-z0-9_]*)*)\}")
_VAR = re.compile(r"^[a-z][a-z0-9_]*$")


class _Refused(Exception):
    """A template that cannot be expanded; carries the message (positioned by the caller)."""


@dataclass(frozen=True)
class Catalogue:
    """What templates may range over: the actors (raw items by id) and the groups (member ids)."""

    actors: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]

    @classmethod
    def collect(cls, files: list[SourceFile]) -> Catalogue:
        """Gather actors and groups from the raw data of every file (before validation)."""
        actors: dict[str, dict[str, Any]] = {}
        groups: dict[str, list[str]] = {}
        for source in files:
            data = source.data if isinstance(source.data, dict) else {}
            for item in _items(data.get("actors")):
                if isinstance(item.get("id"), str):
                    actors.setdefault(item["id"], item)
            for item in _items(data.get("groups")):
                members = item.get("members")
                if isinstance(item.get("id"), str) and isinstance(members, list):
                    groups.setdefault(item["id"], [str(m) for m in members])
        return cls(actors, groups)


def _items(section: Any) -> list[dict[str, Any]]:
    return [x for x in section if isinstance(x, dict)] if isinstance(section, list) else []


def short_name(actor: dict[str, Any]) -> str:
    """An actor's short name: its ``short`` field, else the last word of its name."""
    short = actor.get("short")
    if isinstance(short, str) and short.strip():
        return short.strip()
    name = str(actor.get("name") or actor.get("id") or "")
    words = name.split()
    return words[-1] if words else name


class _Expander:
    """Expands the templates of one file, rebuilding its position tables for the new paths."""

    def __init__(self, source: SourceFile, catalogue: Catalogue, problems: list[Problem]):
        self.source = source
        self.catalogue = catalogue
        self.problems = problems
        self.generated = 0
        self.values: dict[PathKey, Position] = {}
        self.keys: dict[PathKey, Position] = {}
        self.styles: dict[PathKey, str] = {}
        self.rewrites: dict[PathKey, tuple[str, tuple[Span, ...]]] = {}

    def run(self) -> SourceFile:
        data = self.source.data
        if not isinstance(data, dict) or not _has_template(data):
            return self.source
        result: dict[str, Any] = {}
        for section, items in data.items():
            path: PathKey = (section,)
            self._copy(path, path, "")
            if not isinstance(items, list):
                result[section] = self._node(items, path, path, {}, "")
                continue
            result[section] = self._list(items, path, path, {}, "", section in FIXED)
        return dataclasses.replace(
            self.source,
            data=result,
            values=self.values,
            keys=self.keys,
            styles=self.styles,
            rewrites=self.rewrites,
        )

    # -- walking ----------------------------------------------------------------------------

    def _list(
        self,
        items: list[Any],
        old: PathKey,
        new: PathKey,
        bindings: dict[str, Any],
        context: str,
        fixed: bool = False,
    ) -> list[Any]:
        out: list[Any] = []
        for i, item in enumerate(items):
            here = (*old, i)
            if isinstance(item, dict) and KEY in item:
                if fixed:
                    self._problem(here, context, f"'{old[-1]}' cannot be generated by {KEY}")
                    continue
                for combination, label in self._combinations(item, here, bindings, context):
                    body = {k: v for k, v in item.items() if k != KEY}
                    target = (*new, len(out))
                    self._copy(here, target, label)
                    out.append(self._node(body, here, target, combination, label))
                continue
            target = (*new, len(out))
            self._copy(here, target, context)
            out.append(self._node(item, here, target, bindings, context))
        return out

    def _node(
        self, node: Any, old: PathKey, new: PathKey, bindings: dict[str, Any], context: str
    ) -> Any:
        if isinstance(node, list):
            return self._list(node, old, new, bindings, context)
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                name = self._text(key, (*old, key), (*new, key), bindings, context, key=True)
                if name in out:
                    self._problem(
                        (*old, key), context, f"key '{name}' is generated twice", key=True
                    )
                    continue
                child_old, child_new = (*old, key), (*new, name)
                self._copy(child_old, child_new, context)
                out[name] = self._node(value, child_old, child_new, bindings, context)
            return out
        if isinstance(node, str):
            return self._text(node, old, new, bindings, context)
        return node

    def _text(
        self,
        text: str,
        old: PathKey,
        new: PathKey,
        bindings: dict[str, Any],
        context: str,
        key: bool = False,
    ) -> str:
        if not bindings or "{" not in text:
            return text
        try:
            result, spans = substitute(text, bindings, self.catalogue)
        except _Refused as error:
            self._problem(old, context, str(error), key=key)
            return text
        if spans and not key:
            self.rewrites[new] = (text, spans)
        return result

    # -- combinations -----------------------------------------------------------------------

    def _combinations(
        self, item: dict[str, Any], path: PathKey, bindings: dict[str, Any], context: str
    ) -> list[tuple[dict[str, Any], str]]:
        """Every binding of the template's variables (with the outer ones), and its context."""
        try:
            names, lists, distinct = self._spec(item[KEY], bindings)
            size = math.prod(len(values) for values in lists)
            if self.generated + size > MAX_EXPANSION:  # refused before any copy is made
                raise _Refused(
                    f"{KEY} would generate more than {MAX_EXPANSION:,} items in this file "
                    f"({size:,} here)"
                )
            outer = list(bindings.values())
            combos = [
                dict(zip(names, values, strict=True))
                for values in itertools.product(*lists)
                if not distinct or len(set(values) | set(outer)) == len(values) + len(set(outer))
            ]
            if self.generated + len(combos) > MAX_EXPANSION:
                raise _Refused(
                    f"{KEY} would generate more than {MAX_EXPANSION:,} items in this file "
                    f"({len(combos):,} here)"
                )
        except _Refused as error:
            self._problem((*path, KEY), context, str(error))
            return []
        self.generated += len(combos)
        prefix = f"{context}, " if context else "in "
        return [
            (
                {**bindings, **combo},
                prefix + f"{KEY} " + ", ".join(f"{k}={_plain(v)}" for k, v in combo.items()),
            )
            for combo in combos
        ]

    def _spec(self, spec: Any, bindings: dict[str, Any]) -> tuple[list[str], list[list[Any]], bool]:
        if not isinstance(spec, dict) or not spec:
            raise _Refused(f"{KEY} must map variable names to a list or a group of actors")
        distinct = spec.get(DISTINCT, True)
        if not isinstance(distinct, bool):
            raise _Refused(f"'{DISTINCT}' must be true or false")
        names = [k for k in spec if k != DISTINCT]
        if not names or len(names) > MAX_VARIABLES:
            raise _Refused(f"{KEY} binds 1 to {MAX_VARIABLES} variables, not {len(names)}")
        lists = []
        for name in names:
            if not _VAR.match(name):
                raise _Refused(f"'{name}' is not a variable name (lower-case letters, digits, _)")
            if name in bindings:
                raise _Refused(f"variable '{name}' is already bound by an enclosing {KEY}")
            lists.append(self._values(name, spec[name]))
        return names, lists, distinct

    def _values(self, name: str, given: Any) -> list[Any]:
        if isinstance(given, str):
            members = self.catalogue.groups.get(given)
            if members is None:
                known = ", ".join(sorted(self.catalogue.groups)) or "none declared"
                raise _Refused(f"'{name}': unknown group '{given}' (groups: {known})")
            return list(members)
        if not isinstance(given, list) or not given:
            raise _Refused(f"'{name}' must be a non-empty list or the id of a group")
        for value in given:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise _Refused(f"'{name}': {value!r} is not an id or a whole number")
        return list(given)

    # -- positions --------------------------------------------------------------------------

    def _copy(self, old: PathKey, new: PathKey, context: str) -> None:
        """Give ``new`` the positions (and style) of ``old``, with ``context``."""
        for table, target in ((self.source.values, self.values), (self.source.keys, self.keys)):
            found = table.get(old)
            if found is not None:
                target[new] = dataclasses.replace(found, context=context)
        style = self.source.styles.get(old)
        if style is not None:
            self.styles[new] = style

    def _problem(self, path: PathKey, context: str, message: str, key: bool = False) -> None:
        position = self.source.at(path, key=key)
        self.problems.append(Problem(dataclasses.replace(position, context=context), message))


def _plain(value: Any) -> str:
    return str(value)


def _has_template(node: Any) -> bool:
    if isinstance(node, dict):
        return KEY in node or any(_has_template(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_template(v) for v in node)
    return False


def substitute(
    text: str, bindings: dict[str, Any], catalogue: Catalogue
) -> tuple[str, tuple[Span, ...]]:
    """Replace ``{var}`` and ``{var.field}`` of bound variables; return the text and its spans."""
    out: list[str] = []
    spans: list[Span] = []
    last = 0
    length = 0
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if name is None or name not in bindings:
            continue
        value = _field(name, bindings[name], match.group(2).lstrip("."), catalogue)
        before = text[last : match.start()]
        out.append(before)
        length += len(before)
        spans.append((length, length + len(value), match.start(), match.end()))
        out.append(value)
        length += len(value)
        last = match.end()
    out.append(text[last:])
    return "".join(out), tuple(spans)


def _field(name: str, value: Any, field: str, catalogue: Catalogue) -> str:
    if not field or field == "id":
        return _plain(value)
    actor = catalogue.actors.get(str(value))
    if actor is None:
        raise _Refused(f"{{{name}.{field}}}: '{value}' is not an actor, so it has no fields")
    if field == "name":
        return str(actor.get("name", value))
    if field == "short":
        return short_name(actor)
    if field == "kind":
        return str(actor.get("kind", ""))
    node: Any = actor.get("attributes") or {}
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            raise _Refused(
                f"{{{name}.{field}}}: actor '{value}' has no field or attribute '{field}' "
                "(fields: id, name, short, kind, or an attribute)"
            )
        node = node[part]
    if isinstance(node, dict) and "value" in node:
        node = node["value"]
    if isinstance(node, dict | list):
        raise _Refused(f"{{{name}.{field}}}: '{field}' is a group of attributes, not one value")
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, float) and node.is_integer():
        return str(int(node))
    return str(node)


def map_offset(spans: tuple[Span, ...], offset: int) -> int:
    """Map an offset in generated text onto the template's text."""
    shift = 0
    for start, end, template_start, template_end in spans:
        if offset < start:
            break
        if offset < end:
            return template_start
        shift = template_end - end
    return offset + shift


def expand_templates(files: list[SourceFile], problems: list[Problem]) -> list[SourceFile]:
    """Return the files with every template expanded; problems are appended to ``problems``."""
    catalogue = Catalogue.collect(files)
    return [_Expander(source, catalogue, problems).run() for source in files]

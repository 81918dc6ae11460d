"""Loading a scenario folder: YAML with positions, shape validation, name resolution, compilation.

Every problem found is collected with its ``file:line:col`` and raised together as one
:class:`ScenarioError`, so an author sees all the errors of a file at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from kremlinology.limits import (
    MAX_CSV_BYTES,
    MAX_EXPANDED_ITEMS,
    MAX_POSTERIOR_ROWS,
    MAX_SCENARIO_BYTES,
    MAX_SPAN_MONTHS,
    number_problem,
    shorten,
)
from kremlinology.limits import MAX_FILE_BYTES as MAX_FILE_BYTES
from kremlinology.limits import MAX_FLOW_DEPTH as MAX_FLOW_DEPTH
from kremlinology.limits import MAX_YAML_NODES as MAX_NODES
from kremlinology.months import MonthFormatError, parse_month
from kremlinology.scenario import files as files_module
from kremlinology.scenario import schema
from kremlinology.scenario.cache import cached
from kremlinology.scenario.compiler import compile_scenario
from kremlinology.scenario.errors import (
    Position,
    Problem,
    ScenarioError,
    UnknownScenarioError,
)
from kremlinology.scenario.model import Scenario

MANIFEST = "scenario.yaml"
PathKey = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class SourceFile:
    """One YAML file: plain data plus the position of every mapping key, value and list item."""

    name: str
    data: Any
    values: dict[PathKey, Position]
    keys: dict[PathKey, Position]
    styles: dict[PathKey, str]

    def at(self, path: Iterable[str | int], key: bool = False) -> Position:
        """Return the position of ``path``, or of its nearest ancestor that has one."""
        parts = tuple(path)
        table = self.keys if key else self.values
        while parts:
            if parts in table:
                return table[parts]
            if parts in self.values:
                return self.values[parts]
            parts = parts[:-1]
        return Position(self.name, 1, 1)

    lines: list[str] = field(default_factory=list)

    def inside(self, path: Iterable[str | int], line: int, col: int) -> Position:
        """Return the position of (line, col) of the text of the scalar at ``path``.

        The scalar's text may span several lines of the file (a block scalar, or a folded plain
        or quoted one): its characters are walked line by line, each file line contributing its
        text without indentation plus one joining character.
        """
        parts = tuple(path)
        base = self.at(parts)
        style = self.styles.get(parts, "plain")
        text = self._text_at(parts)
        if text is None or base.line > len(self.lines):
            return Position(self.name, base.line, base.col)
        before = text.split("\n")[: max(0, line - 1)]
        offset = sum(len(part) + 1 for part in before) + col - 1
        if style == "block":
            rows = self.lines[base.line :]
            indents = [len(r) - len(r.lstrip(" ")) for r in rows if r.strip()]
            indent = indents[0] if indents else 0
            segments = [(base.line + 1 + i, indent + 1, r[indent:]) for i, r in enumerate(rows)]
        else:
            start = base.col + (style == "quoted")
            first = self.lines[base.line - 1][start - 1 :]
            segments = [(base.line, start, first)]
            for i, row in enumerate(self.lines[base.line :]):
                stripped = row.lstrip(" \t")
                segments.append((base.line + 1 + i, len(row) - len(stripped) + 1, stripped))
        for number, first_col, segment in segments:
            if offset <= len(segment):
                return Position(self.name, number, first_col + offset)
            offset -= len(segment) + 1
        return Position(self.name, base.line, base.col)

    def _text_at(self, parts: PathKey) -> str | None:
        node = self.data
        try:
            for part in parts:
                node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
        return node if isinstance(node, str) else None


def bundled_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with the package."""
    root = resources.files("kremlinology") / "scenarios"
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())


def resolve_scenario(name_or_path: str | Path) -> Path:
    """Return the folder of a bundled scenario name or of a path; raise UnknownScenarioError."""
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.is_file() and candidate.name == MANIFEST:
        return candidate.parent
    if candidate.is_dir():
        if not (candidate / MANIFEST).is_file():
            raise UnknownScenarioError(f"{text}: no {MANIFEST} in this folder")
        return candidate
    if text in bundled_scenarios():
        return Path(str(resources.files("kremlinology") / "scenarios" / text))
    if "/" in text or "\\" in text or candidate.suffix:
        raise UnknownScenarioError(f"{text}: no such scenario folder")
    available = ", ".join(bundled_scenarios()) or "none"
    raise UnknownScenarioError(f"unknown scenario '{text}'; available: {available}")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load, validate and compile a scenario by bundled name or folder path.

    Raises UnknownScenarioError for a name that is not found and ScenarioError (with every
    problem's position) for a scenario that does not validate.
    """
    return cached(resolve_scenario(name_or_path), _load_folder)


def _load_folder(folder: Path) -> Scenario:
    read: dict[Path, bytes] = {}  # every file read, so the digest hashes exactly those bytes
    manifest_file = read_yaml(folder / MANIFEST, folder, read)
    manifest = _validate_manifest(manifest_file)
    paths = files_module.yaml_files(folder, MANIFEST)
    for path in paths:  # every file read and the total checked before any is parsed
        read[path] = files_module.read_file(path, folder, _display(path))
        if sum(len(raw) for raw in read.values()) > MAX_SCENARIO_BYTES:
            message = f"the scenario's YAML files hold more than {MAX_SCENARIO_BYTES / 1e6:g} MB"
            raise ScenarioError([Problem(Position(_display(path)), message)])
    files = [parse_yaml(files_module.decode(read[p], _display(p)), _display(p)) for p in paths]
    problems: list[Problem] = []
    content = [_validate_content(f, problems) for f in files]
    _check_item_count(files, content, problems)
    posterior = _read_posterior(folder, manifest, manifest_file, problems, read)
    if problems:
        raise ScenarioError(problems)
    digest = _digest(read)
    return compile_scenario(manifest, manifest_file, files, content, folder, digest, posterior)


def _display(path: Path) -> str:
    """The path relative to the working folder if inside it (links are not followed: a link
    may loop or point anywhere)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def read_yaml(
    path: Path, folder: Path | None = None, read: dict[Path, bytes] | None = None
) -> SourceFile:
    """Read one YAML file with positions; raise ScenarioError if it cannot be read or parsed.

    With ``folder``, the file must be a regular file inside it (scenario/files.py); ``read``
    collects the bytes read, by path.
    """
    name = _display(path)
    raw = files_module.read_file(path, folder, name)
    if read is not None:
        read[path] = raw
    return parse_yaml(files_module.decode(raw, name), name)


def parse_yaml(text: str, name: str) -> SourceFile:
    """Parse YAML text into a SourceFile; raise ScenarioError on a syntax error."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True
    _check_flow_depth(text, name)
    try:
        data = yaml.load(io.StringIO(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = f"YAML error: {error.problem or error.context or 'cannot parse'}"
        raise ScenarioError([Problem(Position(name, line, col), message)]) from None
    except Exception as error:  # YAMLError, RecursionError, or an internal error of the parser
        message = f"YAML error: {str(error).splitlines()[0] if str(error) else 'cannot parse'}"
        raise ScenarioError([Problem(Position(name), message)]) from None
    source = SourceFile(name, None, {}, {}, {}, text.split("\n"))
    plain = _Plain(source)
    try:
        source.data = plain.convert(data, ())
    except RecursionError:
        raise ScenarioError([Problem(Position(name), "YAML is nested too deeply")]) from None
    if plain.problems:
        raise ScenarioError(plain.problems)
    return source


_FLOW_TOKENS = re.compile(r"""[\[\]{}]|'[^'\n]*'|"(?:[^"\\\n]|\\.)*"|(?:^|(?<=\s))#[^\n]*""", re.M)


def _check_flow_depth(text: str, name: str) -> None:
    """Refuse flow collections nested deeper than MAX_FLOW_DEPTH before the parser sees them.

    Quoted strings and comments are skipped; a bracket inside a plain or block scalar may be
    counted, which can only make this check stricter than YAML itself, never looser.
    """
    depth = 0
    for match in _FLOW_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                start = match.start()
                line = text.count("\n", 0, start) + 1
                col = start - (text.rfind("\n", 0, start) + 1) + 1
                message = f"YAML is nested too deeply (more than {MAX_FLOW_DEPTH} levels)"
                raise ScenarioError([Problem(Position(name, line, col), message)])
        elif token in "]}":
            depth = max(0, depth - 1)


class _Plain:
    """Converts ruamel's round-trip objects to plain Python, recording positions on the way.

    A node reached again through an alias is converted once and shared; its expanded size still
    counts towards MAX_NODES, so an alias bomb is refused without being expanded.
    """

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.done: dict[int, tuple[Any, int]] = {}
        self.size = 0
        self.problems: list[Problem] = []  # numbers refused (NaN, infinities, out of range)

    def convert(self, node: Any, path: PathKey) -> Any:
        value, _size = self._convert(node, path)
        return value

    def _convert(self, node: Any, path: PathKey) -> tuple[Any, int]:
        if not isinstance(node, CommentedMap | CommentedSeq):
            return self._leaf(node, path), 1
        seen = self.done.get(id(node))
        if seen is not None:
            self._count(seen[1])
            return seen
        name, values, keys = self.source.name, self.source.values, self.source.keys
        here = (node.lc.line or 0, node.lc.col or 0)
        values.setdefault(path, Position(name, here[0] + 1, here[1] + 1))
        before = self.size
        self._count(1)
        result: Any
        if isinstance(node, CommentedMap):
            result = {}
            for key in node:
                key_line, key_col = _mark(node.lc.key, key, here)
                value_line, value_col = _mark(node.lc.value, key, here)
                child = (*path, str(key))
                keys[child] = Position(name, key_line + 1, key_col + 1)
                values[child] = Position(name, value_line + 1, value_col + 1)
                result[str(key)] = self._item(node[key], child)
        else:
            result = []
            for index, item in enumerate(node):
                line, col = _mark(node.lc.item, index, here)
                values[(*path, index)] = Position(name, line + 1, col + 1)
                result.append(self._item(item, (*path, index)))
        self.done[id(node)] = (result, self.size - before)
        return result, self.size - before

    def _item(self, node: Any, path: PathKey) -> Any:
        if isinstance(node, CommentedMap | CommentedSeq):
            return self._convert(node, path)[0]
        self._count(1)
        return self._leaf(node, path)

    def _leaf(self, node: Any, path: PathKey) -> Any:
        value = _scalar(node, path, self.source)
        problem = number_problem(value)
        if problem is not None:
            self.problems.append(Problem(self.source.at(path), problem))
        return value

    def _count(self, nodes: int) -> None:
        self.size += nodes
        if self.size > MAX_NODES:
            message = f"YAML holds more than {MAX_NODES:,} values once its aliases are expanded"
            raise ScenarioError([Problem(Position(self.source.name), message)])


def _mark(lookup: Any, key: Any, fallback: tuple[int, int]) -> tuple[int, int]:
    """Return ruamel's (line, col) of a key or item; the parent's where it has none (a key
    brought in by a merge ``<<``, a node built from a tag)."""
    try:
        found = lookup(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return fallback
    if not isinstance(found, list | tuple) or len(found) != 2 or None in found:
        return fallback
    return int(found[0]), int(found[1])


def _scalar(node: Any, path: PathKey, source: SourceFile) -> Any:
    if isinstance(node, str):
        if isinstance(node, LiteralScalarString | FoldedScalarString):
            source.styles[path] = "block"
        elif isinstance(node, DoubleQuotedScalarString | SingleQuotedScalarString):
            source.styles[path] = "quoted"
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int | float):
        return int(node) if isinstance(node, int) else float(node)
    return str(node)


def _validate_manifest(source: SourceFile) -> schema.Manifest:
    problems: list[Problem] = []
    if not isinstance(source.data, dict):
        raise ScenarioError([Problem(Position(source.name), "the manifest must be a mapping")])
    manifest = _validate_model(schema.Manifest, source.data, source, (), problems)
    if manifest is not None:
        for key in ("start", "end"):
            try:
                parse_month(getattr(manifest, key))
            except MonthFormatError as error:
                problems.append(Problem(source.at((key,)), str(error)))
        if not problems and parse_month(manifest.end) < parse_month(manifest.start):
            problems.append(Problem(source.at(("end",)), "end is before start"))
        elif not problems and parse_month(manifest.end) - parse_month(manifest.start) >= (
            MAX_SPAN_MONTHS
        ):
            message = f"the scenario spans more than {MAX_SPAN_MONTHS:,} months"
            problems.append(Problem(source.at(("end",)), message))
    if problems or manifest is None:
        raise ScenarioError(problems)
    return manifest


def _check_item_count(
    files: list[SourceFile], content: list[dict[str, list[Any]]], problems: list[Problem]
) -> None:
    """Refuse a scenario with more than MAX_EXPANDED_ITEMS items, at the first item too many."""
    total = 0
    for source, sections in zip(files, content, strict=True):
        for section, items in sections.items():
            if total + len(items) > MAX_EXPANDED_ITEMS:
                where = source.at((section, MAX_EXPANDED_ITEMS - total))
                message = f"the scenario holds more than {MAX_EXPANDED_ITEMS:,} items"
                problems.append(Problem(where, message))
                return
            total += len(items)


def _validate_content(source: SourceFile, problems: list[Problem]) -> dict[str, list[Any]]:
    """Validate each item of each section on its own, so one bad item hides no other error."""
    if source.data is None:
        return {}
    if not isinstance(source.data, dict):
        problems.append(
            Problem(Position(source.name), "a scenario file must be a mapping of sections")
        )
        return {}
    content: dict[str, list[Any]] = {}
    for section, items in source.data.items():
        model = schema.SECTIONS.get(section)
        if model is None:
            known = ", ".join(schema.SECTIONS)
            problems.append(
                Problem(source.at((section,), key=True), f"unknown section '{section}' ({known})")
            )
            continue
        if not isinstance(items, list):
            problems.append(Problem(source.at((section,)), f"section '{section}' must be a list"))
            continue
        content[section] = [
            _validate_model(model, item, source, (section, i), problems)
            for i, item in enumerate(items)
        ]
    return content


def _validate_model(
    model: type[ModelT],
    data: Any,
    source: SourceFile,
    path: PathKey,
    problems: list[Problem],
) -> ModelT | None:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            loc = (*path, *detail["loc"])
            is_key = detail["type"] == "extra_forbidden"
            problems.append(Problem(source.at(loc, key=is_key), _message(detail)))
        return None


def _message(detail: Any) -> str:
    """Turn one pydantic error into a sentence that names the key."""
    loc = [str(p) for p in detail["loc"] if not isinstance(p, int)]
    where = ".".join(p for p in loc if p not in _UNION_TAGS) or "item"
    kind = detail["type"]
    if kind == "missing":
        return f"'{where}' is required"
    if kind == "extra_forbidden":
        return f"unknown key '{where}'"
    if kind == "string_pattern_mismatch":
        return f"'{where}': {shorten(repr(detail['input']))} {_pattern_hint(where)}"
    return f"'{where}': {detail['msg'][0].lower()}{detail['msg'][1:]}"


_UNION_TAGS = {
    "uniform",
    "beta",
    "truncnormal",
    "categorical",
    "str",
    "float",
    "bool",
    "int",
    "list[str]",
    "list[constrained-str]",
    "constrained-str",
    "literal['end']",
}


def _pattern_hint(where: str) -> str:
    if where.endswith("sources"):
        return "is not a source (ledger:<id>, seed:<file>, pub:<publication>, dispute:<topic>)"
    if where.split(".")[-1] in ("window", "month", "at", "start", "end"):
        return "is not a month (YYYY-MM)"
    return "is not an id (lower-case letters, digits and _ , starting with a letter)"


def _read_posterior(
    folder: Path,
    manifest: schema.Manifest,
    source: SourceFile,
    problems: list[Problem],
    read: dict[Path, bytes] | None = None,
) -> tuple[list[str], list[list[str]]] | None:
    """Read the posterior CSV named by the manifest, inside the folder; record problems."""
    if manifest.posterior is None:
        return None
    where = source.at(("posterior",))
    try:
        path = files_module.inside(folder, manifest.posterior, where)
    except ScenarioError as error:
        problems.extend(error.problems)
        return None
    if not os.path.lexists(path):
        problems.append(Problem(where, f"posterior file '{manifest.posterior}' is missing"))
        return None
    name = _display(path)
    try:
        raw = files_module.read_file(path, folder, name, MAX_CSV_BYTES)
        rows = _csv_rows(files_module.decode(raw, name), name)
    except ScenarioError as error:
        problems.extend(error.problems)
        return None
    if read is not None:
        read[path] = raw
    if len(rows) < 2:
        problems.append(Problem(Position(name), "posterior file has no samples"))
        return None
    return rows[0], rows[1:]


def _csv_rows(text: str, name: str) -> list[list[str]]:
    """Parse CSV text; a malformed line or too many rows is a ScenarioError at its line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > MAX_POSTERIOR_ROWS + 1:
                message = f"posterior has more than {MAX_POSTERIOR_ROWS:,} samples"
                raise files_module.refuse(name, message, reader.line_num)
    except csv.Error as error:
        raise files_module.refuse(name, f"CSV error: {error}", reader.line_num) from None
    return rows


def _digest(read: dict[Path, bytes]) -> str:
    """Hash every file that defines the scenario, so results name exactly what produced them."""
    digest = hashlib.sha256()
    for path in sorted(read):
        digest.update(path.name.encode() + b"\0" + read[path] + b"\0")
    return digest.hexdigest()


def check_month(text: str, position: Position, problems: list[Problem]) -> int | None:
    """Parse a month, recording a problem instead of raising."""
    try:
        return parse_month(text)
    except MonthFormatError as error:
        problems.append(Problem(position, str(error)))
        return None

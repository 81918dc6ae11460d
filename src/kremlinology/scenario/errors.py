"""Errors raised while loading a scenario; each carries a file position."""

from __future__ import annotations

from dataclasses import dataclass, field

from kremlinology.limits import MAX_PROBLEMS, message


@dataclass(frozen=True)
class Position:
    """A place in a source file; line and column count from 1."""

    file: str
    line: int = 1
    col: int = 1
    context: str = field(default="", compare=False)
    """Where a generated item came from, e.g. ``in for_each actor=molotov`` (empty otherwise)."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One validation problem at one position."""

    position: Position
    message: str

    def __post_init__(self) -> None:
        # a message may quote a huge YAML value (an alias repeats it everywhere): cut it
        object.__setattr__(self, "message", message(self.message))

    def __str__(self) -> str:
        context = f"{self.position.context}: " if self.position.context else ""
        return f"{self.position}: {context}{self.message}"


class KremlinologyError(Exception):
    """Base of every error the package raises on purpose for bad input."""


class ScenarioError(KremlinologyError):
    """A scenario failed to load; ``problems`` lists the problems found, in file order.

    At most MAX_PROBLEMS are kept (the first ones in file order); ``more`` counts the others, and
    the message ends with a line saying how many were left out.
    """

    def __init__(self, problems: list[Problem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.position.file, p.position.line, p.position.col))
        self.problems = ordered[:MAX_PROBLEMS]
        self.more = len(ordered) - len(self.problems)
        lines = [str(p) for p in self.problems]
        if self.more:
            lines.append(f"... and {self.more:,} more problems")
        super().__init__("\n".join(lines))


class UnknownScenarioError(KremlinologyError):
    """A scenario name that is neither bundled nor a folder."""

"""Errors raised while loading a scenario; each carries a file position."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """A place in a source file; line and column count from 1."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One validation problem at one position."""

    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class KremlinologyError(Exception):
    """Base of every error the package raises on purpose for bad input."""


class ScenarioError(KremlinologyError):
    """A scenario failed to load; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(
            problems, key=lambda p: (p.position.file, p.position.line, p.position.col)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownScenarioError(KremlinologyError):
    """A scenario name that is neither bundled nor a folder."""

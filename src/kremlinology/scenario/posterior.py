"""Posterior samples as a matrix: the one step the loader and the compiler share.

A leaf of ``scenario/`` (it imports no other scenario module), so that the compiler need not call
back into the loader.
"""

from __future__ import annotations

import numpy as np

from kremlinology.limits import number_problem, shorten


def posterior_matrix(
    header: list[str],
    rows: list[list[str]],
    columns: list[str],
    domains: list[tuple[str, ...] | None],
) -> np.ndarray:
    """Arrange posterior samples as a float matrix in parameter order (categories as codes).

    Raises ValueError naming the line (the header is line 1) of a malformed or non-finite value.
    """
    index = {name: i for i, name in enumerate(header)}
    matrix = np.empty((len(rows), len(columns)), dtype=np.float64)
    for j, (name, domain) in enumerate(zip(columns, domains, strict=True)):
        for i, row in enumerate(rows):
            matrix[i, j] = _posterior_cell(row, index[name], name, domain, i + 2)
    return matrix


def _posterior_cell(
    row: list[str], column: int, name: str, domain: tuple[str, ...] | None, line: int
) -> float:
    if column >= len(row):
        raise ValueError(f"line {line} has no value for '{name}'")
    cell = row[column]
    if domain is not None:
        if cell not in domain:
            raise ValueError(f"line {line}: {shorten(repr(cell))} is not a category of '{name}'")
        return float(domain.index(cell))
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"line {line}: {shorten(repr(cell))} is not a number") from None
    problem = number_problem(value)
    if problem is not None:
        raise ValueError(f"line {line}, '{name}': {problem}")
    return value

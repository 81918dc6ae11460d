"""Posterior samples as a matrix: the one step the loader and the compiler share.

A leaf of ``scenario/`` (it imports no other scenario module), so that the compiler need not call
back into the loader.
"""

from __future__ import annotations

import numpy as np


def posterior_matrix(
    header: list[str],
    rows: list[list[str]],
    columns: list[str],
    domains: list[tuple[str, ...] | None],
) -> np.ndarray:
    """Arrange posterior samples as a float matrix in parameter order (categories as codes)."""
    index = {name: i for i, name in enumerate(header)}
    matrix = np.empty((len(rows), len(columns)), dtype=np.float64)
    for j, (name, domain) in enumerate(zip(columns, domains, strict=True)):
        cells = [row[index[name]] for row in rows]
        matrix[:, j] = [domain.index(c) for c in cells] if domain else [float(c) for c in cells]
    return matrix

"""A log of firings with who was in play and who held each office at that moment.

``FiringLog`` is an observer for ``VectorProgram.advance``: for every firing it keeps, per fired
timeline, the option, the holder of every office and whether every actor was in play, read from
the state just before the event's effects. Whether an actor is in play is computed here from the
raw status slots (alive, free, exists), independently of the compiled ``in_play`` conditions the
kernel applies, so a check built on this log also checks the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kremlinology.engine.simulate import Recorder, Records
from kremlinology.engine.state import WorldState
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.compiler import STATUS


@dataclass(frozen=True)
class StatusFiring:
    """One event's firing in some timelines, with the state of the cast at that moment."""

    month: int
    event: int
    timelines: np.ndarray  # (k,) timeline indices
    options: np.ndarray  # (k,) option codes
    holders: np.ndarray  # (offices, k) actor-domain codes, offices in Scenario.offices order
    in_play: np.ndarray  # (actors, k) bool, actors in Scenario.actors order


class FiringLog(Recorder):
    """A Recorder (outcomes and facts as usual) that also logs every firing's cast."""

    def __init__(self, program: VectorProgram, records: Records) -> None:
        super().__init__(program, records)
        scenario = program.scenario
        rows = sorted(
            {
                scenario.slot_index[f"{a.id}.{s}"]
                for a in scenario.actors
                for s in STATUS
                if f"{a.id}.{s}" in scenario.slot_index
            }
        )
        position = {row: i for i, row in enumerate(rows)}
        self.status_rows = np.asarray(rows, dtype=np.int64)
        self.membership = np.zeros((len(scenario.actors), len(rows)), dtype=np.int64)
        for i, actor in enumerate(scenario.actors):
            for status in STATUS:
                row = scenario.slot_index.get(f"{actor.id}.{status}")
                if row is not None:
                    self.membership[i, position[row]] = 1
        self.entries: list[StatusFiring] = []

    def fired(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Log the firing with which of its actors were in play."""
        super().fired(world, event, mask)
        rows = np.flatnonzero(mask)
        failed = (world.values[self.status_rows][:, rows] == 0.0).astype(np.int64)
        in_play = (self.membership @ failed) == 0
        self.entries.append(
            StatusFiring(
                world.month,
                event,
                world.timelines[rows].copy(),
                world.option[event, rows].copy(),
                world.values[self.offices][:, rows].astype(np.int64),
                in_play,
            )
        )

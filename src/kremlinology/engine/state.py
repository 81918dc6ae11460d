"""World state as arrays over timelines (struct of arrays); the engine-level intervention plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kremlinology.engine.params import draw_parameters
from kremlinology.months import NEVER
from kremlinology.scenario.expressions import Node
from kremlinology.scenario.model import Scenario


@dataclass
class WorldState:
    """The state of a block of timelines at the start of ``month``.

    ``values[slot, k]`` holds every quantity of timeline ``timelines[k]`` (booleans as 0/1,
    categories as codes); ``last``, ``first`` and ``option`` hold each event's last and first fire
    month (``NEVER`` if it has not fired) and the option of its last firing; ``count`` how often it
    fired.
    """

    month: int
    timelines: np.ndarray
    values: np.ndarray
    last: np.ndarray
    first: np.ndarray
    option: np.ndarray
    count: np.ndarray
    stamps: list[int] | None = None
    """Logical time of the last write to each slot, each event's record, and the month (last
    entry); cached evaluations stay valid while none of what they read has a later stamp."""
    clock: int = 0

    def touch(self, index: int) -> None:
        """Record a write to slot ``index`` (or event record ``slots + e``, or -1: the month)."""
        if self.stamps is None:
            self.stamps = [0] * (self.values.shape[0] + self.last.shape[0] + 1)
        self.clock += 1
        self.stamps[index] = self.clock

    @property
    def size(self) -> int:
        """How many timelines the block holds."""
        return int(self.timelines.shape[0])

    def copy(self) -> WorldState:
        """Return an independent copy (a saved state to start other worlds from)."""
        return WorldState(
            self.month,
            self.timelines.copy(),
            self.values.copy(),
            self.last.copy(),
            self.first.copy(),
            self.option.copy(),
            self.count.copy(),
        )

    def take(self, rows: np.ndarray) -> WorldState:
        """Return the state of a subset of this block's timelines (by position), its arrays
        C-contiguous like a new block's."""
        # ``a[:, rows]`` would be Fortran-ordered: every read of one slot over the timelines
        # (what the kernels do all the time) would then be strided, about 20 times slower.
        return WorldState(
            self.month,
            self.timelines[rows],
            np.take(self.values, rows, axis=1),
            np.take(self.last, rows, axis=1),
            np.take(self.first, rows, axis=1),
            np.take(self.option, rows, axis=1),
            np.take(self.count, rows, axis=1),
        )


def initial_state(
    scenario: Scenario, seed: int, first: int, count: int, use_posterior: bool = True
) -> WorldState:
    """Return timelines ``first .. first + count - 1`` at the scenario's first month."""
    values = np.repeat(scenario.initial_state()[:, None], count, axis=1)
    if scenario.parameters:
        rows = [p.slot for p in scenario.parameters]
        values[rows] = draw_parameters(scenario, seed, first, count, use_posterior)
    events = len(scenario.events)
    never = np.full((events, count), NEVER, dtype=np.int32)
    return WorldState(
        month=scenario.start,
        timelines=np.arange(first, first + count, dtype=np.int64),
        values=values,
        last=never,
        first=never.copy(),
        option=np.zeros((events, count), dtype=np.int16),
        count=np.zeros((events, count), dtype=np.int32),
    )


@dataclass(frozen=True)
class Plan:
    """Interventions as the engines apply them (built by ``kremlinology.counterfactual``).

    ``forced``: event -> months at which it is made to fire; ``blocked``: event -> first month from
    which it cannot fire; ``chosen``: event -> the option it takes whenever it fires; ``sets``:
    month -> assignments (slot, expression) applied at the start of that month, before its events.
    """

    forced: dict[int, frozenset[int]] = field(default_factory=dict)
    blocked: dict[int, int] = field(default_factory=dict)
    chosen: dict[int, int] = field(default_factory=dict)
    sets: dict[int, tuple[tuple[int, Node], ...]] = field(default_factory=dict)

    def is_blocked(self, event: int, month: int) -> bool:
        """Whether ``event`` cannot fire in ``month``."""
        start = self.blocked.get(event)
        return start is not None and month >= start

    def is_forced(self, event: int, month: int) -> bool:
        """Whether ``event`` is made to fire in ``month``."""
        months = self.forced.get(event)
        return months is not None and month in months

    @property
    def events(self) -> set[int]:
        """The events the plan forces, blocks or fixes the option of."""
        return set(self.forced) | set(self.blocked) | set(self.chosen)

    @property
    def empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not (self.forced or self.blocked or self.chosen or self.sets)


NO_PLAN = Plan()


@dataclass(frozen=True)
class RowPlan:
    """Interventions that differ between the timelines of one block, on top of its :class:`Plan`
    (the NumPy kernel only: ``VectorProgram.advance``'s ``rows``).

    ``blocked``: event -> (first month, bool per row): the event cannot fire from that month in
    the rows marked; ``chosen``: event -> option per row (-1 where the row leaves it free): the
    option a marked row's event takes whenever it fires. A row behaves exactly as a block of its
    own under the block's plan plus its overrides would: a blocked event is not a candidate there,
    and a chosen option replaces the drawn one. So several plans that differ in one event each
    run as one block, which pays the kernel's per-month cost once (the drivers' candidates). An
    event named here must not also be in the block's plan (``check`` raises ValueError).
    """

    blocked: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)
    chosen: dict[int, np.ndarray] = field(default_factory=dict)

    def check(self, plan: Plan, size: int) -> None:
        """Raise ValueError when an event is also in ``plan`` or an array is not one per row."""
        shared = (set(self.blocked) | set(self.chosen)) & plan.events
        if shared:
            raise ValueError(f"events {sorted(shared)} are in both the plan and the row plan")
        arrays = [mask for _, mask in self.blocked.values()] + list(self.chosen.values())
        if any(a.shape != (size,) for a in arrays):
            raise ValueError(f"a row plan needs one value per row ({size})")

    def take(self, rows: np.ndarray | slice) -> RowPlan:
        """The overrides of some rows (by position)."""
        return RowPlan(
            {e: (month, mask[rows]) for e, (month, mask) in self.blocked.items()},
            {e: options[rows] for e, options in self.chosen.items()},
        )

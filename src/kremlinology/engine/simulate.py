"""Running many timelines: blocks, records of outcomes and facts, workers and aggregates.

Timelines are processed in blocks of ``chunk_size``; block results are merged in timeline order, and
every random draw depends only on (seed, timeline, month, event, slot), so results are identical for
any chunk size or number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kremlinology.engine import reference
from kremlinology.engine.compiled import make_program, resolve_engine
from kremlinology.engine.parallel import Span, balanced_spans, open_executor, spans, width
from kremlinology.engine.state import Plan, RowPlan, WorldState, initial_state
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.expressions import BOOL, Categorical
from kremlinology.scenario.model import Scenario

DEFAULT_CHUNK = 16_384
KEEP_LIMIT = 250_000
"""Runs above this keep streaming aggregates only, unless asked otherwise."""


@dataclass
class Records:
    """What a block's observer has written: outcome values and the two checks of every fact."""

    outcomes: np.ndarray  # (outcomes, timelines) float64, NaN until read
    fact_open: np.ndarray  # (facts, timelines) bool: condition held when the window opened
    fact_close: np.ndarray  # (facts, timelines) bool: condition held when the window closed

    def copy(self) -> Records:
        """An independent copy."""
        return Records(self.outcomes.copy(), self.fact_open.copy(), self.fact_close.copy())

    def take(self, rows: np.ndarray) -> Records:
        """The records of some timelines (by position), C-contiguous (``WorldState.take``)."""
        return Records(
            *(np.take(a, rows, axis=1) for a in (self.outcomes, self.fact_open, self.fact_close))
        )

    def facts_hold(self) -> np.ndarray:
        """Return (facts, timelines) bool: the fact held within its tolerance."""
        holds: np.ndarray = self.fact_close & ~self.fact_open
        return holds


def empty_records(scenario: Scenario, size: int) -> Records:
    """Records for ``size`` timelines, nothing read yet (outcomes NaN, facts false)."""
    return Records(
        np.full((len(scenario.outcomes), size), np.nan),
        np.zeros((len(scenario.facts), size), dtype=bool),
        np.zeros((len(scenario.facts), size), dtype=bool),
    )


@dataclass
class Fired:
    """One event's firing in some timelines of a block (for logs and chronicles)."""

    month: int
    event: int
    timelines: np.ndarray
    options: np.ndarray
    holders: np.ndarray | None = None
    """(offices, timelines) codes of each office's holder when the event fired (before its
    effects), offices in ``Scenario.offices`` order."""


class Recorder:
    """Observer that reads outcomes and facts at their months and optionally logs firings."""

    COMPILED = "records"
    """The compiled kernel reads outcomes and facts itself when there is no log
    (``engine.compiled``); subclasses do not inherit this unless they repeat it."""

    def __init__(self, program: VectorProgram, records: Records, log: bool = False) -> None:
        scenario = program.scenario
        self.scenario = scenario
        self.records = records
        self.log: list[Fired] | None = [] if log else None
        self.schedule = _schedule(scenario)
        self.closures = program.probe_closures()
        self.offices = list(scenario.offices.values())
        self.refusals: dict[int, int] = {}
        """Forced event -> timelines where it could not fire because an actor was out of play."""

    def month_start(self, world: WorldState) -> None:
        """Read the outcomes and fact checks due at this month's start."""
        for kind, index in self.schedule.get(world.month, ()):
            self._read(world, kind, index)

    def finish(self, world: WorldState) -> None:
        """Read everything scheduled after the last month."""
        for kind, index in self.schedule.get(self.scenario.end + 1, ()):
            self._read(world, kind, index)

    def _read(self, world: WorldState, kind: str, index: int) -> None:
        value = np.broadcast_to(self.closures[kind][index](world), (world.size,))
        if kind == "outcome":
            self.records.outcomes[index] = value
        elif kind == "open":
            self.records.fact_open[index] = value
        else:
            self.records.fact_close[index] = value

    def before_write(
        self, world: WorldState, slot: int, rows: np.ndarray | slice, new: np.ndarray
    ) -> None:
        """Reads happen at month starts only: a write needs nothing from the recorder."""

    def fired(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Log the firing (when logging) as a :class:`Fired` record."""
        if self.log is not None:
            self.log.append(
                Fired(
                    world.month,
                    event,
                    world.timelines[mask],
                    world.option[event][mask].copy(),
                    world.values[self.offices][:, mask].copy(),
                )
            )

    def refused(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Count the timelines where a forced event could not fire."""
        self.refusals[event] = self.refusals.get(event, 0) + int(mask.sum())


def _schedule(scenario: Scenario) -> dict[int, list[tuple[str, int]]]:
    """Return month -> reads due at its start (end + 1 stands for after the last month)."""
    schedule: dict[int, list[tuple[str, int]]] = {}
    after = scenario.end + 1
    for i, outcome in enumerate(scenario.outcomes):
        schedule.setdefault(after if outcome.month is None else outcome.month, []).append(
            ("outcome", i)
        )
    for i, fact in enumerate(scenario.facts):
        opens = fact.month - fact.tolerance
        if opens > scenario.start:
            schedule.setdefault(opens, []).append(("open", i))
        closes = min(fact.month + fact.tolerance + 1, after)
        schedule.setdefault(closes, []).append(("close", i))
    return schedule


@dataclass
class Block:
    """A block of timelines with its state and records; ``advance`` moves it on in place."""

    program: VectorProgram
    seed: int
    world: WorldState
    records: Records
    log: list[Fired] | None = None

    def advance(
        self,
        plan: Plan,
        stop: int | None = None,
        log: bool = False,
        rows: RowPlan | None = None,
    ) -> None:
        """Simulate up to and including month ``stop`` (default: the scenario's end); ``rows``:
        overrides of ``plan`` that differ between the block's timelines (``state.RowPlan``)."""
        scenario = self.program.scenario
        stop = scenario.end if stop is None else stop
        recorder = Recorder(self.program, self.records, log)
        self.program.advance(self.world, plan, self.seed, stop, recorder, rows=rows)
        if self.world.month > scenario.end:
            recorder.finish(self.world)
        if recorder.log is not None:
            self.log = (self.log or []) + recorder.log

    def copy(self) -> Block:
        """Return a saved copy to start another world from."""
        return Block(self.program, self.seed, self.world.copy(), self.records.copy(), None)

    def take(self, rows: np.ndarray) -> Block:
        """The block restricted to some timelines (by position), without its log."""
        return Block(self.program, self.seed, self.world.take(rows), self.records.take(rows), None)


def start_block(
    program: VectorProgram, seed: int, first: int, count: int, use_posterior: bool = True
) -> Block:
    """Return timelines ``first .. first + count - 1`` at the scenario's first month."""
    scenario = program.scenario
    world = initial_state(scenario, seed, first, count, use_posterior)
    return Block(program, seed, world, empty_records(scenario, count))


# -- aggregates ------------------------------------------------------------------------------


@dataclass
class Aggregates:
    """Streaming summaries of a run: enough for every table, whatever the number of runs."""

    runs: int
    fired: np.ndarray  # (events,) timelines in which each event fired
    month_counts: np.ndarray  # (events, months) timelines whose first firing was that month
    option_counts: np.ndarray  # (events, max options)
    outcome_sum: np.ndarray  # (outcomes,)
    outcome_sumsq: np.ndarray
    category_counts: list[np.ndarray]  # per outcome: counts per category (empty if not categorical)
    fact_holds: np.ndarray  # (facts,)

    @classmethod
    def empty(cls, scenario: Scenario) -> Aggregates:
        """Summaries of no timeline, shaped for ``scenario``."""
        widest = max([len(e.options) for e in scenario.events] + [1])
        return cls(
            0,
            np.zeros(len(scenario.events), dtype=np.int64),
            np.zeros((len(scenario.events), scenario.months), dtype=np.int64),
            np.zeros((len(scenario.events), widest), dtype=np.int64),
            np.zeros(len(scenario.outcomes)),
            np.zeros(len(scenario.outcomes)),
            [
                np.zeros(len(o.expr.type.domain), dtype=np.int64)
                if isinstance(o.expr.type, Categorical)
                else np.zeros(0, dtype=np.int64)
                for o in scenario.outcomes
            ],
            np.zeros(len(scenario.facts), dtype=np.int64),
        )

    def add(self, scenario: Scenario, block: Block) -> None:
        """Fold a finished block into the summaries."""
        world, records = block.world, block.records
        self.runs += world.size
        fired = world.first >= 0
        self.fired += fired.sum(axis=1)
        offsets = np.where(fired, world.first - scenario.start, scenario.months)
        for e in range(len(scenario.events)):
            self.month_counts[e] += np.bincount(offsets[e], minlength=scenario.months + 1)[:-1]
            if scenario.events[e].options:
                chosen = world.option[e][fired[e]]
                self.option_counts[e] += np.bincount(chosen, minlength=self.option_counts.shape[1])
        for i, counts in enumerate(self.category_counts):
            values = records.outcomes[i]
            if counts.size:
                counts += np.bincount(values.astype(np.int64), minlength=counts.size)
            else:
                self.outcome_sum[i] += values.sum()
                self.outcome_sumsq[i] += (values * values).sum()
        self.fact_holds += records.facts_hold().sum(axis=1)


# -- whole runs ------------------------------------------------------------------------------


@dataclass
class Timelines:
    """Per-timeline results in compact form (kept for runs up to KEEP_LIMIT by default)."""

    first: np.ndarray  # (events, runs) int32 first fire month, -1 if never
    option: np.ndarray  # (events, runs) int16 option of the last firing
    count: np.ndarray  # (events, runs) int32
    outcomes: np.ndarray  # (outcomes, runs) float64
    facts: np.ndarray  # (facts, runs) bool
    parameters: np.ndarray  # (parameters, runs) float64


@dataclass
class RawRun:
    """What ``run_timelines`` returns: summaries, optional per-timeline arrays, timing."""

    runs: int
    seed: int
    aggregates: Aggregates
    timelines: Timelines | None
    elapsed_s: float
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockTask:
    """One block of a baseline run, as sent to a worker."""

    scenario: Scenario
    seed: int
    span: Span
    plan: Plan
    use_posterior: bool
    keep: bool
    engine: str = "numpy"
    """``"compiled"``, ``"numpy"`` or ``"reference"`` (``engine.compiled.resolve_engine``)."""


def _run_block(task: BlockTask) -> tuple[Aggregates, Timelines | None]:
    """Simulate one block from the start; return its summaries (and its timelines if kept)."""
    scenario = task.scenario
    if task.engine == "reference":
        block = reference_block(task)
    else:
        program = make_program(scenario, task.engine)
        block = start_block(
            program, task.seed, task.span.first, task.span.count, task.use_posterior
        )
        block.advance(task.plan)
    aggregates = Aggregates.empty(scenario)
    aggregates.add(scenario, block)
    return aggregates, (_timelines(scenario, block) if task.keep else None)


def reference_block(task: BlockTask) -> Block:
    """The block of ``task`` simulated by the per-timeline reference interpreter, with outcomes
    and fact checks read at the same month starts as the kernels read them."""
    scenario, span = task.scenario, task.span
    program = VectorProgram(scenario)
    block = start_block(program, task.seed, span.first, span.count, task.use_posterior)
    world, records = block.world, block.records
    schedule = _schedule(scenario)
    rows = {"outcome": records.outcomes, "open": records.fact_open, "close": records.fact_close}
    probes = {
        "outcome": [o.expr for o in scenario.outcomes],
        "open": [f.condition for f in scenario.facts],
        "close": [f.condition for f in scenario.facts],
    }
    for k in range(span.count):
        t = reference.start_timeline(scenario, task.seed, span.first + k, task.use_posterior)
        while True:
            for kind, index in schedule.get(t.month, ()):
                rows[kind][index, k] = reference.evaluate(probes[kind][index], t)
            if t.month > scenario.end:
                break
            reference.run_timeline(scenario, task.seed, t, task.plan, stop=t.month)
        world.values[:, k] = t.values
        world.last[:, k] = t.last
        world.first[:, k] = t.first
        world.option[:, k] = t.option
        world.count[:, k] = t.count
    world.month = scenario.end + 1
    return block


def _timelines(scenario: Scenario, block: Block) -> Timelines:
    world = block.world
    rows = [p.slot for p in scenario.parameters]
    return Timelines(
        world.first.copy(),
        world.option.copy(),
        world.count.copy(),
        block.records.outcomes.copy(),
        block.records.facts_hold(),
        world.values[rows].copy(),
    )


def run_timelines(
    scenario: Scenario,
    runs: int,
    seed: int,
    plan: Plan | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    use_posterior: bool = True,
    keep_timelines: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str | None = None,
) -> RawRun:
    """Simulate ``runs`` timelines from the start; merge blocks in timeline order. ``engine``
    names the kernel (``engine.compiled.resolve_engine``); every engine gives the same result."""
    started = time.perf_counter()
    plan = plan or Plan()
    keep = runs <= KEEP_LIMIT if keep_timelines is None else keep_timelines
    chosen = resolve_engine(engine, scenario)
    tasks = [
        BlockTask(scenario, seed, span, plan, use_posterior, keep, chosen)
        for span in (
            spans(runs, chunk_size) if width(workers) <= 1 else blocks(runs, chunk_size, workers)
        )
    ]
    aggregates = Aggregates.empty(scenario)
    parts: list[Timelines] = []
    done = 0
    with open_executor(workers, len(tasks)) as executor:
        for part_aggregates, part in executor.map(_run_block, tasks):
            _merge(aggregates, part_aggregates)
            if part is not None:
                parts.append(part)
            done += part_aggregates.runs
            if progress is not None:
                progress(done, runs)
    timelines = _concat(parts) if keep else None
    return RawRun(runs, seed, aggregates, timelines, time.perf_counter() - started)


def blocks(runs: int, chunk_size: int, workers: int) -> list[Span]:
    """Spans for a run over several workers: at least two per worker (of at most ``chunk_size``),
    so that a slow worker delays the end less; results do not depend on the cut."""
    spread = width(workers)
    return balanced_spans(runs, min(chunk_size, max(1, -(-runs // (2 * spread)))), spread)


def _merge(total: Aggregates, part: Aggregates) -> None:
    total.runs += part.runs
    total.fired += part.fired
    total.month_counts += part.month_counts
    total.option_counts += part.option_counts
    total.outcome_sum += part.outcome_sum
    total.outcome_sumsq += part.outcome_sumsq
    for mine, theirs in zip(total.category_counts, part.category_counts, strict=True):
        mine += theirs
    total.fact_holds += part.fact_holds


def _concat(parts: list[Timelines]) -> Timelines:
    return Timelines(
        *(
            np.concatenate([getattr(p, f) for p in parts], axis=1)
            for f in ("first", "option", "count", "outcomes", "facts", "parameters")
        )
    )


def outcome_kind(scenario: Scenario, index: int) -> str:
    """Return 'boolean', 'number' or 'categorical' for an outcome."""
    value_type = scenario.outcomes[index].expr.type
    if isinstance(value_type, Categorical):
        return "categorical"
    return "boolean" if value_type == BOOL else "number"

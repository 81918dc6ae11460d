"""Families of what-if timelines: groups of worlds in which much the same things happened.

Each what-if timeline becomes a vector of what happened in it: the headline outcomes (booleans and
categories as 0/1, numbers scaled to 0..1), whether each event happened, and which option it took.
Constant columns, and binary columns that repeat or complement another, are dropped; the outcome
columns together weigh OUTCOME_WEIGHT times as much as the event columns together. scikit-learn's
KMeans (fixed ``random_state``) groups a capped sample of timelines for 2 to ``max_families``
groups, the number with the best silhouette score wins, and every timeline joins the nearest
group. A family's representative is its member closest to the family's centre (ties go to the
lowest timeline index), and its label names the traits that set it apart from the whole ensemble.

The most surprising timeline is the one whose course of events has the lowest probability under
the ensemble, treating events as independent: the product, over events, of the share of timelines
that agree with it on whether the event happened, and on the option it took.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.analysis.effects import outcome_columns
from kremlinology.counterfactual.query import WhatIfResult

SAMPLE = 3000
"""At most this many timelines are clustered; the rest join the nearest family."""
RANDOM_STATE = 0
OUTCOME_WEIGHT = 2.0
"""The outcomes, the headline, weigh this much more than the events when grouping (as blocks)."""
LABEL_TRAITS = 3
MIN_TRAIT_GAP = 0.1
"""A trait names a family only when its share (or scaled mean) is this far from the whole's."""


@dataclass(frozen=True)
class Feature:
    """One column of the what-happened matrix."""

    id: str  # "outcome:king_rules", "event:plot", "option:discovered.crushed"
    label: str
    kind: str  # "outcome", "event" or "option"
    binary: bool


@dataclass
class Trait:
    """How a family differs from the whole ensemble on one feature."""

    feature: Feature
    family: float  # share (binary) or mean (number) in the family
    overall: float

    def text(self) -> str:
        """``Famine (always)``, ``A plot is hatched (11%)``, ``Unrest: 5.97 on average``."""
        label = self.feature.label
        if not self.feature.binary:
            return f"{label}: {self.family:.3g} on average"
        if self.family >= 0.995:
            return f"{label} (always)"
        if self.family <= 0.005:
            return f"{label} (never)"
        return f"{label} ({self.family:.0%})"

    def to_dict(self) -> dict[str, Any]:
        """The trait as a JSON-ready dict."""
        return {
            "feature": self.feature.id,
            "label": self.feature.label,
            "kind": self.feature.kind,
            "binary": self.feature.binary,
            "family": self.family,
            "overall": self.overall,
        }


@dataclass
class Family:
    """A group of what-if timelines; ``share`` of the kept timelines, ``size`` of them."""

    share: float
    size: int
    representative: int  # a timeline index (among result.twin.timelines)
    label: str
    traits: list[Trait] = field(default_factory=list)
    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The family as a JSON-ready dict."""
        return {
            "share": self.share,
            "size": self.size,
            "representative": self.representative,
            "label": self.label,
            "traits": [t.to_dict() for t in self.traits],
        }


@dataclass(frozen=True)
class Surprise:
    """The least likely timeline and its log-probability under the independence model."""

    timeline: int
    log_probability: float

    def to_dict(self) -> dict[str, Any]:
        """The surprising timeline as a JSON-ready dict."""
        return {"timeline": self.timeline, "log10_probability": self.log_probability / math.log(10)}


def features(result: WhatIfResult) -> tuple[np.ndarray, np.ndarray, list[Feature]]:
    """Return (scaled matrix, raw matrix, features): one row per kept what-if timeline.

    Raw values are 0/1 for binary features and the outcome's value for numbers; the scaled
    matrix maps numbers to 0..1. Constant and duplicate columns are left out.
    """
    scenario, world = result.scenario, result.twin.whatif
    columns: list[np.ndarray] = []
    found: list[Feature] = []
    for column in outcome_columns(scenario, world.outcomes):
        columns.append(column.values.astype(np.float64))
        found.append(Feature(f"outcome:{column.id}", column.label, "outcome", column.binary))
    if world.first.shape[1]:
        for event in scenario.events:
            happened = world.first[event.index] >= 0
            columns.append(happened.astype(np.float64))
            found.append(Feature(f"event:{event.id}", event.label, "event", True))
            if len(event.options) > 1:
                for k, option in enumerate(event.options):
                    took = happened & (world.option[event.index] == k)
                    columns.append(took.astype(np.float64))
                    found.append(
                        Feature(
                            f"option:{event.id}.{option.id}",
                            f"{event.label}: {option.label}",
                            "option",
                            True,
                        )
                    )
    n = result.twin.kept
    if not columns:
        return np.zeros((n, 0)), np.zeros((n, 0)), []
    raw = np.column_stack(columns)
    low, high = raw.min(axis=0), raw.max(axis=0)
    varying = np.flatnonzero(high > low)
    raw, low, high = raw[:, varying], low[varying], high[varying]
    found = [found[i] for i in varying]
    scaled = (raw - low) / (high - low)
    # A binary column that repeats another, or is its complement, says nothing new.
    canonical = scaled.copy()
    flip = [j for j, f in enumerate(found) if f.binary and canonical[0, j] == 1.0]
    canonical[:, flip] = 1.0 - canonical[:, flip]
    _, unique = np.unique(canonical, axis=1, return_index=True)
    keep = np.sort(unique)
    return scaled[:, keep], raw[:, keep], [found[i] for i in keep]


def families(result: WhatIfResult, max_families: int = 5) -> list[Family]:
    """Group the what-if timelines of ``result``; largest family first (cached on the result)."""
    if max_families < 1:
        raise ValueError("max_families must be at least 1")
    cache = result.extra.setdefault("narrate.families", {})
    if max_families not in cache:
        cache[max_families] = _families(result, max_families)
    found: list[Family] = cache[max_families]
    return found


def _families(result: WhatIfResult, max_families: int) -> list[Family]:
    scaled, raw, found = features(result)
    n = scaled.shape[0]
    weighted = scaled * block_weights(scaled, found)
    groups = _cluster(weighted, max_families)
    timelines = result.twin.timelines
    overall_raw = raw.mean(axis=0) if n else raw.sum(axis=0)
    overall_scaled = scaled.mean(axis=0) if n else scaled.sum(axis=0)
    built = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        centre = weighted[members].mean(axis=0)
        distance = ((weighted[members] - centre) ** 2).sum(axis=1)
        representative = int(timelines[members[int(np.argmin(distance))]])
        traits = _traits(
            found,
            raw[members].mean(axis=0),
            overall_raw,
            scaled[members].mean(axis=0),
            overall_scaled,
        )
        built.append(
            Family(
                share=members.size / n,
                size=int(members.size),
                representative=representative,
                label=_label(traits, len(np.unique(groups))),
                traits=traits,
                members=timelines[members],
            )
        )
    built.sort(key=lambda f: (-f.size, f.representative))
    return built


def block_weights(scaled: np.ndarray, found: list[Feature]) -> np.ndarray:
    """Column weights that give the outcome columns OUTCOME_WEIGHT times the total variance of
    the event and option columns, however many of each there are."""
    is_outcome = np.array([f.kind == "outcome" for f in found], dtype=bool)
    variance = scaled.var(axis=0) if scaled.shape[0] else np.zeros(len(found))
    weights = np.ones(len(found))
    for block, share in ((is_outcome, OUTCOME_WEIGHT), (~is_outcome, 1.0)):
        total = float(variance[block].sum())
        if total > 0:
            weights[block] = np.sqrt(share / total)
    return weights


def _cluster(scaled: np.ndarray, max_families: int) -> np.ndarray:
    """Return a group number per row (all zeros when there is nothing to tell rows apart)."""
    n = scaled.shape[0]
    if n == 0 or scaled.shape[1] == 0 or max_families == 1:
        return np.zeros(n, dtype=np.int64)
    from threadpoolctl import threadpool_limits

    # One thread: the sample is small, and OpenMP threads on a busy machine cost far more than
    # they save (and one thread keeps the result the same everywhere).
    with threadpool_limits(1):
        return _kmeans(scaled, max_families)


def _kmeans(scaled: np.ndarray, max_families: int) -> np.ndarray:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = scaled.shape[0]
    rows = np.arange(n)
    if n > SAMPLE:
        rows = np.sort(np.random.default_rng(RANDOM_STATE).choice(n, SAMPLE, replace=False))
    sample = scaled[rows]
    distinct = np.unique(sample, axis=0).shape[0]
    best: tuple[float, Any] | None = None
    for k in range(2, min(max_families, distinct) + 1):
        model = KMeans(n_clusters=k, n_init=4, random_state=RANDOM_STATE).fit(sample)
        if np.unique(model.labels_).size < 2:
            continue
        score = float(silhouette_score(sample, model.labels_))
        if best is None or score > best[0] + 1e-9:
            best = (score, model)
    if best is None:
        return np.zeros(n, dtype=np.int64)
    groups: np.ndarray = best[1].predict(scaled).astype(np.int64)
    return groups


def _traits(
    found: list[Feature],
    family_raw: np.ndarray,
    overall_raw: np.ndarray,
    family_scaled: np.ndarray,
    overall_scaled: np.ndarray,
) -> list[Trait]:
    gaps = np.abs(family_scaled - overall_scaled)
    # Outcomes are the headline: on equal gaps they come before the events that led to them.
    weight = np.array([1.25 if f.kind == "outcome" else 1.0 for f in found])
    order = np.argsort(-(gaps * weight), kind="stable")
    traits: list[Trait] = []
    for j in order:
        if gaps[j] < MIN_TRAIT_GAP or len(traits) == LABEL_TRAITS:
            break
        traits.append(Trait(found[j], float(family_raw[j]), float(overall_raw[j])))
    return traits


def _label(traits: list[Trait], count: int) -> str:
    if traits:
        return "; ".join(t.text() for t in traits)
    return "every world runs much the same course" if count == 1 else "close to the average world"


def log_probabilities(result: WhatIfResult) -> np.ndarray:
    """Per kept what-if timeline: log of the product of the shares of timelines agreeing with it
    on each event (happened or not) and, when it happened, on its option."""
    scenario, world = result.scenario, result.twin.whatif
    n = result.twin.kept
    total = np.zeros(n)
    if world.first.shape[1] == 0:
        # Per-timeline events were not kept (very large runs): use the outcomes instead.
        scaled, _, found = features(result)
        for j, feature in enumerate(found):
            if feature.binary:
                total += _log_share(scaled[:, j] > 0.5)
        return total
    for event in scenario.events:
        happened = world.first[event.index] >= 0
        total += _log_share(happened)
        if len(event.options) > 1 and happened.any():
            chosen = np.where(happened, world.option[event.index].astype(np.int64), -1)
            counts = np.bincount(chosen[happened], minlength=len(event.options))
            share = counts / happened.sum()
            agree = np.maximum(share[np.maximum(chosen, 0)], 1e-300)
            total += np.where(happened, np.log(agree), 0.0)
    return total


def _log_share(values: np.ndarray) -> np.ndarray:
    p = values.mean() if values.size else 0.0
    share = np.where(values, p, 1.0 - p)
    logged: np.ndarray = np.log(np.maximum(share, 1e-300))
    return logged


def surprising(result: WhatIfResult) -> Surprise:
    """Return the what-if timeline with the lowest probability under the ensemble."""
    logp = log_probabilities(result)
    column = int(np.argmin(logp))  # the first (lowest index) among equals
    return Surprise(int(result.twin.timelines[column]), float(logp[column]))

"""A synthetic scenario for benchmarks: 150 events, 20 actors, 140 months, every feature in use.

``write_synthetic(folder)`` writes it as YAML (deterministically: the same text every time), so
the benchmark measures the engine on a scenario of the size and mix of the bundled one without
depending on its content.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

START, END = "1953-03", "1964-10"  # 140 months
ACTORS = 20
EVENTS = 150
MONTHS = 140


def _month(offset: int) -> str:
    year, month = divmod(1953 * 12 + 2 + offset, 12)
    return f"{year:04d}-{month + 1:02d}"


def _q(text: str) -> str:
    return json.dumps(text)


def write_synthetic(folder: Path, seed: int = 7) -> Path:
    """Write the synthetic scenario into ``folder`` (created); return the folder."""
    r = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.yaml").write_text(
        "name: synthetic\nversion: 1.0.0\ntitle: Synthetic benchmark scenario\n"
        f"start: {START}\nend: {END}\n",
        encoding="utf-8",
    )
    actors = [f"a{i:02d}" for i in range(ACTORS)]
    lines = ["actors:"]
    for actor in actors:
        lines += [
            f"  - id: {actor}",
            f"    name: Actor {actor}",
            "    kind: person",
            "    attributes:",
            "      alive: true",
            f"      power: {{value: {r.uniform(0.1, 0.9):.3f}, min: 0, max: 1}}",
            f"      standing: {r.uniform(-1, 1):.3f}",
            "      office: {value: none, values: [none, minister, premier]}",
        ]
    lines += [
        "variables:",
        "  - {id: tension, type: number, initial: 2, min: 0, max: 10}",
        "  - {id: reform, type: number, initial: 0.2, min: 0, max: 1}",
        "  - {id: crisis, type: boolean, initial: false}",
        "  - {id: leader, type: categorical, values: actors, initial: a00}",
        "parameters:",
        "  - {id: drift, prior: {dist: uniform, low: 0, high: 1}}",
        "  - {id: zeal, prior: {dist: beta, a: 2, b: 3}}",
        "  - {id: cohesion, prior: {dist: truncnormal, mean: 0.5, sd: 0.2, low: 0, high: 1}}",
        "  - {id: line, prior: {dist: categorical, values: [soft, hard], probs: [0.4, 0.6]}}",
        "  - {id: hawk, prior: {dist: uniform, low: 0, high: 0.5}}",
        "derived:",
        '  - {id: strain, expr: "tension * 0.1 + (0.2 if crisis else 0)"}',
        '  - {id: top, expr: "max(a00.power, a01.power, a02.power)"}',
        '  - {id: mood, expr: "logistic(reform * 4 - 2) * cohesion"}',
        "events:",
    ]
    for i in range(EVENTS):
        lines += _event(r, i, actors)
    lines += [
        "outcomes:",
        '  - {id: crisis_end, label: Crisis at the end, expr: "crisis"}',
        '  - {id: tension_end, label: Tension at the end, expr: "tension"}',
        '  - {id: leader_end, label: Leader at the end, expr: "leader"}',
        '  - {id: reform_mid, label: Reform in 1958, expr: "reform", at: 1958-01}',
        "  - {id: first_fired, label: First event fired, expr: \"fired('e000')\"}",
        "facts:",
        '  - {id: f1, label: F1, month: 1955-02, tolerance: 3, condition: "tension > 3"}',
        "  - {id: f2, label: F2, month: 1957-06, tolerance: 1, condition: \"fired('e010')\"}",
        '  - {id: f3, label: F3, month: 1960-01, tolerance: 6, condition: "crisis"}',
    ]
    (folder / "content.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _condition(r: random.Random, i: int, actor: str) -> str:
    earlier = f"e{r.randrange(max(i, 1)):03d}"
    return r.choice(
        [
            f"{actor}.alive and tension < {r.randint(5, 9)}",
            f"fired('{earlier}')",
            f"{actor}.office != premier and {actor}.power > {r.uniform(0.1, 0.5):.2f}",
            "not crisis or strain > 0.5",
            f"months_since('{earlier}') > {r.randint(2, 24)}",
            f"line == hard and {actor}.standing > -0.5",
            f"month >= {_month(r.randrange(MONTHS))}",
        ]
    )


def _hazard(r: random.Random, actor: str) -> str:
    return r.choice(
        [
            f"clip(0.01 + 0.05 * {actor}.power - 0.01 * tension + drift * 0.02, 0, 1)",
            "0.02 + zeal * 0.05 * (1 if crisis else 0.3)",
            f"logistic({actor}.standing * 2 - 4) * 0.2",
            "min(0.08, strain * 0.05 + hawk * 0.04)",
            f"0.03 * mood + 0.01 * abs({actor}.standing)",
        ]
    )


def _effects(r: random.Random, actors: list[str], indent: str) -> list[str]:
    actor = r.choice(actors)
    other = r.choice(actors)
    pool = [
        f"{actor}.power: {_q(f'{actor}.power + {r.uniform(-0.1, 0.1):.3f}')}",
        f"tension: {_q(f'tension + {r.uniform(-0.5, 0.8):.2f}')}",
        f"reform: {_q(f'reform + {r.uniform(-0.05, 0.1):.3f} * cohesion')}",
        f"crisis: {_q('tension > 5')}",
        f"leader: {other}",
        f"{actor}.office: {r.choice(['minister', 'premier', 'none'])}",
        f"{actor}.standing: {_q(f'{actor}.standing + {r.uniform(-0.3, 0.3):.2f}')}",
        f"{actor}.alive: {_q(f'{actor}.power > 0.05 or month < {_month(60)}')}",
    ]
    chosen = r.sample(pool, r.randint(1, 3))
    return [f"{indent}effects:"] + [f"{indent}  {c}" for c in chosen]


def _event(r: random.Random, i: int, actors: list[str]) -> list[str]:
    actor = r.choice(actors)
    lines = [f"  - id: e{i:03d}", f"    label: Event {i}"]
    if r.random() < 0.3:
        lo = r.randrange(MONTHS - 12)
        hi = min(MONTHS - 1, lo + r.randint(6, 60))
        lines.append(f"    window: [{_month(lo)}, {_month(hi)}]")
    if r.random() < 0.6:
        lines.append(f"    when: {_q(_condition(r, i, actor))}")
    kind = r.random()
    if kind < 0.2 and i > 0:
        source = r.randrange(i)
        lines.append(f"    trigger: {{on: e{source:03d}, delay: {r.randint(0, 3)}}}")
    elif kind < 0.35:
        lines.append(f"    hazard: {r.choice(['0.01', '0.02', '0.05'])}")
    elif kind < 0.42:
        pass  # certain once its condition holds
    else:
        lines.append(f"    hazard: {_q(_hazard(r, actor))}")
    if r.random() < 0.3:
        lines.append("    once: false")
    lines.append(f"    actors: [{actor}]")
    lines += _effects(r, actors, "    ")
    if r.random() < 0.25:
        lines.append("    options:")
        for j in range(r.randint(2, 3)):
            weight = r.choice(["1", "2", f"{actor}.power * 3", "reform + 0.5", "tension - 3"])
            lines += [f"      - id: o{j}", f"        weight: {_q(weight)}"]
            lines += _effects(r, actors, "        ")
    return lines

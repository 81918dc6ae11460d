"""Reports: a what-if written up as Markdown and forum BBCode, with charts and chronicles.

``write_report`` builds the whole report in a hidden staging folder next to ``out_dir``
(``.NAME.PID-XXXX.partial``) and moves it into place only when every file is written, so a
failure never leaves a half-written folder behind (an earlier report in ``out_dir`` stays as it
was). An earlier report is replaced by one atomic exchange of the two folders where the system
has it (Linux ``renameat2``), so at every instant ``out_dir`` holds the old report or the new one.
An error, Ctrl-C or SIGTERM removes the staging folder; one left by SIGKILL or a power cut is
removed by the next ``write_report`` into the same parent (its process is gone).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.analysis.effects import outcome_columns
from kremlinology.counterfactual.replay import Replayer
from kremlinology.months import month_words
from kremlinology.narrate import charts, formats, numbers
from kremlinology.narrate.causes import chain_lines
from kremlinology.narrate.chronicle import Chronicle, chronicle
from kremlinology.narrate.families import Family, families, surprising
from kremlinology.narrate.posts import (
    DEFAULT_POST_SIZE,
    PostSizeError,
    check_post_size,
    split_posts,
)
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.version import __version__

if TYPE_CHECKING:
    from kremlinology.counterfactual.query import WhatIfResult

FILES = ("report.md", "report.bbcode", "result.json")
POSTS = "posts"
"""The folder of the forum posts: the BBCode cut into numbered posts."""
CHART_TEXT = {
    "outcomes": "Baseline against what-if for the headline outcomes, with 95% intervals",
    "drivers": "What decides the headline outcomes in the what-if world",
    "divergence": "How fast the two worlds part, month by month, with a 95% interval",
}


class ReportError(KremlinologyError):
    """A report that cannot be written where it was asked for."""


def write_report(
    result: WhatIfResult,
    out_dir: Path,
    max_families: int = 5,
    *,
    post_size: int = DEFAULT_POST_SIZE,
    image_base: str | None = None,
) -> Path:
    """Write report.md, report.bbcode, result.json, the charts and the forum posts
    (``posts/post-01.bbcode``..., each at most ``post_size`` characters) into ``out_dir``.

    ``image_base``: the absolute address (``https://...``) where the report's PNG files will be
    put, so that the BBCode's images point there. ``out_dir`` must not exist, be empty, or hold
    an earlier report (which is replaced whole). Raises ReportError for a bad post size or
    address, or a folder that cannot take the report.
    """
    out_dir = Path(out_dir)
    options = bb_options(post_size, image_base)
    _check_target(out_dir)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale(parent, out_dir.name)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}-", suffix=".partial", dir=parent)
    )
    try:
        os.chmod(staging, 0o755)
        build(result, staging, max_families, options)
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _check_target(out_dir: Path) -> None:
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ReportError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "report.md").is_file():
        raise ReportError(f"{out_dir} is not empty and holds no report; choose another --out")


STALE_UNOWNED_S = 3600.0
"""A staging folder without an owner's process id counts as stale after an hour."""


def clean_stale(parent: Path, name: str) -> list[Path]:
    """Remove staging folders of report ``name`` in ``parent`` whose process has ended.

    Returns what was removed. A folder of a process that still runs (another report being
    written at this moment) is left alone.
    """
    removed: list[Path] = []
    prefix = f".{name}."
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith((".partial", ".old"))):
            continue
        middle = entry.name[len(prefix) :].rsplit(".", 1)[0]
        owner = middle.split("-", 1)[0]
        if owner.isdigit() and _running(int(owner)):
            continue
        if not owner.isdigit() and time.time() - entry.stat(follow_symlinks=False).st_mtime < (
            STALE_UNOWNED_S
        ):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier call of this process that was interrupted
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        rename = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, exchange = -100, 2
    done = rename(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), exchange)
    return bool(done == 0)


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    if _exchange(staging, out_dir):
        shutil.rmtree(staging, ignore_errors=True)  # now the old report
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=staging.parent))
    os.rmdir(old)
    os.replace(out_dir, old)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- contents --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BBOptions:
    """How the BBCode is written: the largest post, and where the images will be."""

    post_size: int = DEFAULT_POST_SIZE
    image_base: str | None = None


_URL = re.compile(r"https?://[^\s\[\]\"<>]+")


def check_image_base(image_base: str | None) -> str | None:
    """An absolute http(s) address without its trailing slash (None stays None); ReportError
    for anything else."""
    if image_base is None:
        return None
    if not _URL.fullmatch(image_base):
        raise ReportError(
            f"--image-base must be an absolute http:// or https:// address without spaces or "
            f"brackets, not {image_base!r}"
        )
    return image_base.rstrip("/")


def bb_options(post_size: int = DEFAULT_POST_SIZE, image_base: str | None = None) -> BBOptions:
    """Checked BBCode options (ReportError for a post size out of range or a bad address)."""
    return BBOptions(_post_size(post_size), check_image_base(image_base))


def _post_size(size: int) -> int:
    try:
        return check_post_size(size)
    except PostSizeError as error:
        raise ReportError(f"--post-size: {error}") from None


def build(
    result: WhatIfResult, folder: Path, max_families: int = 5, options: BBOptions | None = None
) -> None:
    """Write every file of the report into an existing folder."""
    options = options or BBOptions()
    groups = families(result, max_families)
    replayer = Replayer(result.twin)
    odd = surprising(result)
    replayer.prefetch([f.representative for f in groups] + [odd.timeline])
    told = [_family_chronicle(result, i, f, replayer) for i, f in enumerate(groups, 1)]
    strange = chronicle(result, timeline=odd.timeline, replayer=replayer)
    strange = dataclasses.replace(
        strange,
        pick="surprising",
        note="the least likely timeline that still happened: no other what-if world took a rarer "
        "course of events",
    )
    drawn = charts.save_charts(result, folder)
    data = result.to_dict()
    data["families"] = [
        {**f.to_dict(), "chronicle": c.to_dict()} for f, c in zip(groups, told, strict=True)
    ]
    data["surprising"] = {**odd.to_dict(), "chronicle": strange.to_dict()}
    data["charts"] = drawn
    _write(folder / "result.json", json.dumps(data, indent=2, allow_nan=False) + "\n")
    _write(folder / "report.md", markdown(result, groups, told, strange))
    whole = bbcode(result, groups, told, strange, options.image_base)
    _write(folder / "report.bbcode", whole)
    posts = split_posts(whole, options.post_size, formats.bb_escape(f"What if: {title(result)}"))
    (folder / POSTS).mkdir()
    for number, post in enumerate(posts, 1):
        _write(folder / POSTS / post_name(number, len(posts)), post)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _family_chronicle(
    result: WhatIfResult, number: int, family: Family, replayer: Replayer
) -> Chronicle:
    """The chronicle of a family's representative timeline, noted as such."""
    told = chronicle(result, timeline=family.representative, replayer=replayer, causes=number == 1)
    return dataclasses.replace(
        told,
        pick="typical" if number == 1 else None,
        note=f"the most typical timeline of family {number}, {family.share:.0%} of the what-if "
        f"worlds ({family.label})",
    )


def title(result: WhatIfResult) -> str:
    """The what-if's title: its catalogue entry's, or the query."""
    matched = result.resolved.whatif
    return matched.title if matched is not None else result.resolved.query


def _binary(result: WhatIfResult) -> dict[str, bool]:
    columns = outcome_columns(result.scenario, result.twin.factual.outcomes)
    return {column.id: column.binary for column in columns}


def _value(value: float, binary: bool) -> str:
    return numbers.value(value, binary)


def _change(value: float, binary: bool) -> str:
    return numbers.delta(value, binary)


@dataclasses.dataclass(frozen=True)
class OutcomeLine:
    """One outcome of the report's table, every figure already worded."""

    label: str
    baseline: str
    whatif: str
    change: str
    interval: str
    changed: str

    def cells(self) -> list[str]:
        """The cells in table order."""
        return [self.label, self.baseline, self.whatif, self.change, self.interval, self.changed]


def outcome_lines(result: WhatIfResult) -> list[OutcomeLine]:
    """The outcomes that are not zero in both worlds, largest change first."""
    binary = _binary(result)
    rows = []
    for row in result.sorted_outcomes():
        if row["baseline"] == row["whatif"] == 0 and row["changed"] == 0 and binary[row["id"]]:
            continue
        b = binary[row["id"]]
        low, high = row["ci"]
        rows.append(
            OutcomeLine(
                row["label"],
                _value(row["baseline"], b),
                _value(row["whatif"], b),
                _change(row["delta"], b),
                numbers.interval(low, high, b),
                numbers.share(row["changed"]),
            )
        )
    return rows


def summary(result: WhatIfResult, limit: int = 3) -> list[str]:
    """A few plain sentences on the largest changes (probabilities and means told apart)."""
    binary = _binary(result)
    found: list[str] = []
    for row in result.sorted_outcomes():
        b = binary[row["id"]]
        if (abs(row["delta"]) < 0.005 if b else row["changed"] == 0) or len(found) == limit:
            continue
        low, high = row["ci"]
        sure = "clearly" if low > 0 or high < 0 else "perhaps"
        if b:
            direction = "more" if row["delta"] > 0 else "less"
            found.append(
                f"{row['label']}: {sure} {direction} likely, {numbers.share(row['baseline'])} -> "
                f"{numbers.share(row['whatif'])} ({numbers.points(row['delta'])}, 95% interval "
                f"{numbers.points_interval(low, high)})."
            )
        else:
            direction = "higher" if row["delta"] > 0 else "lower"
            found.append(
                f"{row['label']}: {sure} {direction} on average, {numbers.number(row['baseline'])} "
                f"-> {numbers.number(row['whatif'])} ({numbers.change(row['delta'])}, 95% "
                f"interval {numbers.interval(low, high, False)})."
            )
    return found or ["No outcome changes by more than half a percentage point."]


def conditioning(result: WhatIfResult) -> str:
    """How the record conditioned the timelines, in one sentence."""
    twin = result.twin
    kept = f"{twin.kept:,} of {twin.runs:,} timelines"
    if twin.tolerance is None:
        return f"{kept}, not conditioned on the record; seed {twin.seed}."
    if twin.diverges is not None and twin.facts_used is not None:
        return (
            f"{kept} match the record before their own divergence (the month the intervention "
            f"first acts in each; a median of {np.median(twin.facts_used):.0f} facts, at most "
            f"{twin.tolerance} contradicted); seed {twin.seed}."
        )
    if not twin.prior_facts:
        return f"{kept}; no fact of the record falls before the divergence; seed {twin.seed}."
    return (
        f"{kept} match the record before the divergence ({len(twin.prior_facts)} facts, at most "
        f"{twin.tolerance} contradicted); seed {twin.seed}."
    )


def _byline(result: WhatIfResult) -> str:
    scenario = result.scenario
    return (
        f"Kremlinology {__version__}, scenario {scenario.name} {scenario.version}. "
        f"{conditioning(result)}"
    )


def _divergence(result: WhatIfResult) -> str:
    return month_words(result.twin.divergence)


def _admissibility(result: WhatIfResult) -> list[str]:
    lines = []
    for item in result.admissibility:
        text = f"{item['intervention']}: {item['changes']}"
        if "already_had_it" in item:
            text += f"; {item['already_had_it']:.0%} of the timelines already had it"
        if item.get("not_fired_out_of_play"):
            text += (
                f"; not fired in {item['not_fired_out_of_play_share']:.0%} of the timelines, "
                "where one of its actors was out of play"
            )
        if item.get("inert"):
            text += f"; inert: {item['why']}"
        lines.append(text + ".")
    return lines


def _md_why(result: WhatIfResult, story: Chronicle | None) -> list[str]:
    """Why this happened in the most typical what-if world: its why-chain, link by link."""
    if story is None or not story.causes:
        return []
    esc = formats.md_escape
    found = story.causes[0]
    lines = [
        "",
        "## Why this happened in this world",
        "",
        f"Timeline {story.timeline} (the most typical world): the events without which "
        f"'{esc(found['label'])}' would not have gone as it did, each blocked alone on the "
        f"timeline's twin with the same draws ({found['events_tested']} events tested).",
        "",
    ]
    return lines + [f"1. {esc(line)}" for line in chain_lines(result.scenario, found)]


def _driver_rows(result: WhatIfResult) -> list[tuple[str, str, str]]:
    """(outcome, factor, effect) cells: labels, not ids; the signed effect with its interval
    (in percentage points for a probability)."""
    labels = {row["id"]: row["label"] for row in result.outcomes}
    binary = _binary(result)
    rows = []
    for r in result.drivers:
        b = binary.get(r["outcome"], True)
        effect = numbers.delta(r["effect"], b)
        interval = numbers.interval(r["ci"][0], r["ci"][1], b)
        rows.append(
            (
                labels.get(r["outcome"], r["outcome"]),
                f"{r['label']} ({r['kind']})",
                f"{effect} ({interval}): {r['direction']}",
            )
        )
    return rows


def markdown(
    result: WhatIfResult, groups: list[Family], told: list[Chronicle], strange: Chronicle
) -> str:
    """The report as Markdown, with the chronicles of the families and the surprising world."""
    esc = formats.md_escape
    lines = [f"# What if: {esc(title(result))}", "", f"*{esc(_byline(result))}*", ""]
    lines += [
        f"**Intervention:** `{' + '.join(i.text() for i in result.interventions)}`. "
        f"The worlds part in {_divergence(result)}.",
        "",
    ]
    lines += [f"- {esc(line)}" for line in _admissibility(result)]
    lines += ["", "## In short", ""] + [f"- {esc(s)}" for s in summary(result)]
    lines += [
        "",
        "## Outcomes",
        "",
        "Largest change first, with 95% paired intervals.",
        "",
        "| Outcome | Baseline | What-if | Change | 95% interval | Timelines changed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        "| " + " | ".join(esc(c) for c in row.cells()) + " |" for row in outcome_lines(result)
    ]
    lines += ["", _md_chart("outcomes")]
    lines += ["", "## What decides it", ""]
    drivers = _driver_rows(result)
    if drivers:
        lines += ["| Outcome | Factor | Effect (95% interval) |", "|---|---|---:|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in drivers]
    else:
        lines.append("No factor explains any headline outcome.")
    lines += ["", _md_chart("drivers")]
    lines += _md_why(result, told[0] if told else None)
    lines += ["", "## How fast the worlds part", ""]
    lines.append(_md_chart("divergence"))
    lines += ["", "## Families of what-if worlds", ""]
    lines += [
        f"{i}. In {f.share:.0%} of worlds ({f.size:,}): {esc(f.label)}."
        for i, f in enumerate(groups, 1)
    ]
    for i, (family, story) in enumerate(zip(groups, told, strict=True), 1):
        lines += [
            "",
            f"### Family {i}: {family.share:.0%} of worlds",
            "",
            formats.markdown(story, level=4).rstrip(),
        ]
    lines += ["", "## The most surprising world", "", formats.markdown(strange, level=3).rstrip()]
    return "\n".join(lines) + "\n"


def _md_chart(stem: str) -> str:
    return f"![{CHART_TEXT[stem]}]({stem}.png)\n\n[{stem}.svg]({stem}.svg)"


def post_name(number: int, total: int) -> str:
    """The file name of post ``number`` of ``total`` (``post-01.bbcode``), numbered to sort."""
    return f"post-{number:0{max(2, len(str(total)))}d}.bbcode"


def bbcode(
    result: WhatIfResult,
    groups: list[Family],
    told: list[Chronicle],
    strange: Chronicle,
    image_base: str | None = None,
) -> str:
    """The report as forum BBCode, with the chronicles folded in spoilers (``split_posts`` cuts
    it into posts); images at ``image_base`` when given."""
    note = (
        "[i]Images: upload the PNG files of this report and put their addresses in the "
        "img tags (or write the report with --image-base).[/i]"
        if image_base is None
        else ""
    )
    lines = [
        *_bb_heading(result),
        *_bb_outcomes(result, image_base),
        *_bb_drivers(result, image_base),
        *_bb_families(groups, told, strange),
        "",
        note,
    ]
    return "\n".join(lines).rstrip() + "\n"


def _bb_heading(result: WhatIfResult) -> list[str]:
    """Title, byline, the intervention and its admissibility, the summary sentences."""
    esc = formats.bb_escape
    return [
        f"[b]What if: {esc(title(result))}[/b]",
        f"[i]{esc(_byline(result))}[/i]",
        "",
        esc(
            f"Intervention: {' + '.join(i.text() for i in result.interventions)}. "
            f"The worlds part in {_divergence(result)}."
        ),
        "[list]",
        *(f"[*]{esc(line)}" for line in _admissibility(result)),
        "[/list]",
        "",
        "[b]In short[/b]",
        "[quote]",
        *(esc(s) for s in summary(result)),
        "[/quote]",
        "",
    ]


def _bb_outcomes(result: WhatIfResult, image_base: str | None = None) -> list[str]:
    """The outcome list, largest change first, and its chart."""
    esc = formats.bb_escape
    lines = ["[b]Outcomes[/b] [i](largest change first; 95% paired intervals)[/i]", "[list]"]
    for row in outcome_lines(result):
        lines.append(
            f"[*][b]{esc(row.label)}[/b]: {row.baseline} -> {row.whatif} (change {row.change}, "
            f"95% interval {row.interval}; {row.changed} of the timelines changed)"
        )
    return [*lines, "[/list]", _bb_chart("outcomes", image_base), ""]


def _bb_drivers(result: WhatIfResult, image_base: str | None = None) -> list[str]:
    """What decides the headline outcomes, its chart, and the divergence chart."""
    esc = formats.bb_escape
    lines = ["[b]What decides it[/b]"]
    drivers = _driver_rows(result)
    if drivers:
        lines += [
            "[list]",
            *(f"[*]{esc(o)} <- {esc(f)}: {esc(v)}" for o, f, v in drivers),
            "[/list]",
        ]
    else:
        lines.append("No factor explains any headline outcome.")
    lines += [_bb_chart("drivers", image_base), "", "[b]How fast the worlds part[/b]"]
    return [*lines, _bb_chart("divergence", image_base), ""]


def _bb_families(groups: list[Family], told: list[Chronicle], strange: Chronicle) -> list[str]:
    """The families of what-if worlds, a chronicle of each, and the most surprising world."""
    esc = formats.bb_escape
    lines = ["[b]Families of what-if worlds[/b]", "[list]"]
    lines += [f"[*]In {f.share:.0%} of worlds ({f.size:,}): {esc(f.label)}." for f in groups]
    lines.append("[/list]")
    for i, (family, story) in enumerate(zip(groups, told, strict=True), 1):
        lines += [
            f"[spoiler=Family {i}: {family.share:.0%} of worlds, a typical chronicle]",
            formats.bbcode(story).rstrip(),
            "[/spoiler]",
        ]
    return [
        *lines,
        "[spoiler=The most surprising world]",
        formats.bbcode(strange).rstrip(),
        "[/spoiler]",
    ]


def _bb_chart(stem: str, image_base: str | None = None) -> str:
    where = f"{image_base}/{stem}.png" if image_base else f"{stem}.png"
    return f"[img]{where}[/img]"


def report_summary(folder: Path) -> dict[str, Any]:
    """What a report folder holds (for the CLI's last line and the API)."""
    return {"folder": str(folder), "files": sorted(p.name for p in folder.iterdir())}

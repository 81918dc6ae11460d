"""Reports: files, charts, markup validated by parsers, and writing all-or-nothing."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import bbcode
import numpy as np
import pytest
from markdown_it import MarkdownIt
from matplotlib import image
from typer.testing import CliRunner

import kremlinology.api as k
from conftest import TESTBED
from kremlinology.cli import app
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.narrate import charts, formats
from kremlinology.narrate.chronicle import chronicle
from kremlinology.narrate.families import families, surprising
from kremlinology.narrate.posts import (
    DEFAULT_POST_SIZE,
    MAX_POST_SIZE,
    MIN_POST_SIZE,
    PostSizeError,
    split_posts,
)
from kremlinology.narrate.report import ReportError, title, write_report

RUNS, SEED = 2000, 7
CHARTS = ("outcomes", "drivers", "divergence")


@pytest.fixture(scope="module")
def riot() -> WhatIfResult:
    return k.whatif("early_famine_riot", TESTBED, RUNS, SEED)


@pytest.fixture(scope="module")
def written(riot: WhatIfResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(riot, tmp_path_factory.mktemp("report") / "out")


def test_report_writes_every_file(written: Path) -> None:
    names = sorted(p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file())
    expected = ["report.bbcode", "report.md", "result.json"]
    expected += [f"{stem}.{ext}" for stem in CHARTS for ext in ("png", "svg")]
    assert [n for n in names if not n.startswith("posts/")] == sorted(expected)
    assert [n for n in names if n.startswith("posts/")][:1] == ["posts/post-01.bbcode"]
    for path in written.rglob("*"):
        assert path.is_dir() or path.stat().st_size > 0


@pytest.mark.parametrize("stem", CHARTS)
def test_chart_png_has_the_expected_size_and_is_not_blank(written: Path, stem: str) -> None:
    pixels = image.imread(written / f"{stem}.png")
    assert pixels.shape[:2] == (charts.HEIGHT, charts.WIDTH)
    assert float(np.std(pixels[..., :3])) > 0.05, "the chart is a blank image"
    # Both colours of the bars/curve are drawn (what-if red is in every chart but the drivers').
    red = (np.abs(pixels[..., 0] - 0xB0 / 255) < 0.02) & (
        np.abs(pixels[..., 1] - 0x3A / 255) < 0.02
    )
    blue = (np.abs(pixels[..., 0] - 0x2E / 255) < 0.02) & (
        np.abs(pixels[..., 2] - 0xA4 / 255) < 0.02
    )
    assert (blue if stem == "drivers" else red).sum() > 200


@pytest.mark.parametrize("stem", CHARTS)
def test_chart_svg_parses_and_carries_title_and_labels(written: Path, stem: str) -> None:
    text = (written / f"{stem}.svg").read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert float(root.attrib["width"].removesuffix("pt")) == pytest.approx(charts.WIDTH * 0.72)
    assert "<dc:date>" not in text, "the SVG should not change with the clock"
    titles = {
        "outcomes": "Baseline against what-if",
        "drivers": "What decides the headline outcomes",
        "divergence": "How fast the two worlds part",
    }
    assert titles[stem] in text  # matplotlib keeps each text as a comment beside its glyphs


def test_result_json_has_families_with_chronicles(written: Path, riot: WhatIfResult) -> None:
    data = json.loads((written / "result.json").read_text(encoding="utf-8"))
    assert data["query"] == "early_famine_riot"
    assert [f["representative"] for f in data["families"]] == [
        f.representative for f in families(riot)
    ]
    for family in data["families"]:
        assert family["chronicle"]["timeline"] == family["representative"]
        assert family["chronicle"]["whatif"]
    assert data["surprising"]["chronicle"]["timeline"] == surprising(riot).timeline
    assert sorted(data["charts"]) == sorted(f"{s}.{e}" for s in CHARTS for e in ("png", "svg"))
    assert data["outcomes"] == json.loads(riot.to_json())["outcomes"]


def test_markdown_report_parses_with_tables_images_and_no_raw_html(written: Path) -> None:
    text = (written / "report.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    types = {t.type for t in tokens}
    assert "table_open" in types
    assert not types & {"html_block", "html_inline"}
    inline_children = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not any(c.type in ("html_inline",) for c in inline_children)
    images = [c.attrs["src"] for c in inline_children if c.type == "image"]
    assert sorted(images) == sorted(f"{s}.png" for s in CHARTS)
    for src in images:
        assert (written / str(src)).is_file()
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "What if: Unrest flares in March"
    for needed in (
        "Outcomes",
        "What decides it",
        "How fast the worlds part",
        "Families of what-if worlds",
        "The most surprising world",
    ):
        assert needed in headings
    assert sum(h.startswith("Family ") for h in headings) == len(
        json.loads((written / "result.json").read_text(encoding="utf-8"))["families"]
    )
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) > 5
    # every table row has as many cells as its header
    table_cells: list[int] = []
    count = 0
    for t in tokens:
        if t.type in ("th_open", "td_open"):
            count += 1
        elif t.type == "tr_close":
            table_cells.append(count)
            count = 0
    assert set(table_cells) <= {3, 6}


def bbcode_parser() -> bbcode.Parser:
    parser = bbcode.Parser(install_defaults=False)
    for tag in formats.BBCODE_TAGS:
        parser.add_simple_formatter(tag, f"<{tag}>%(value)s</{tag}>")
    parser.add_simple_formatter(
        "*", "<li>%(value)s</li>", same_tag_closes=True, end_tag_closes=True
    )
    return parser


def check_bbcode(text: str) -> None:
    """Only the allowed tags; every tag closed in order; no text that looks like another tag."""
    stack: list[str] = []
    for kind, name, _, raw in bbcode_parser().tokenize(text):
        if kind == bbcode.Parser.TOKEN_DATA:
            assert not re.search(r"\[/?[A-Za-z*]+[^\]]*\]", raw), f"unknown tag {raw!r}"
        elif kind == bbcode.Parser.TOKEN_TAG_START:
            assert name in (*formats.BBCODE_TAGS, "*")
            if name == "*":
                assert stack and stack[-1] == "list", "[*] outside a [list]"
            else:
                stack.append(name)
        elif kind == bbcode.Parser.TOKEN_TAG_END:
            assert stack and stack[-1] == name, f"[/{name}] closes {stack[-1:]}"
            stack.pop()
    assert not stack, f"unclosed {stack}"


def test_bbcode_report_uses_only_forum_tags(written: Path) -> None:
    text = (written / "report.bbcode").read_text(encoding="utf-8")
    check_bbcode(text)
    assert "[img]outcomes.png[/img]" in text
    assert text.count("[spoiler=Family ") == len(
        json.loads((written / "result.json").read_text(encoding="utf-8"))["families"]
    )
    html = bbcode_parser().format(text)
    assert "<spoiler>" in html and "<li>" in html


@pytest.mark.parametrize("pick", ["typical", "surprising"])
def test_chronicle_bbcode_and_markdown_validate(riot: WhatIfResult, pick: str) -> None:
    told = chronicle(riot, pick=pick)
    check_bbcode(told.render("bbcode"))
    tokens = MarkdownIt("commonmark").parse(told.render("markdown"))
    assert not {t.type for t in tokens} & {"html_block", "html_inline"}
    items = sum(t.type == "list_item_open" for t in tokens)
    assert items == len(told.whatif) + sum(e.month >= told.divergence_month for e in told.factual)


# -- writing all or nothing ------------------------------------------------------------------


def _boom(result: Any, folder: Path) -> list[str]:
    (folder / "outcomes.png").write_bytes(b"half a chart")
    raise RuntimeError("disk on fire")


def test_failure_leaves_no_folder_behind(
    riot: WhatIfResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "save_charts", _boom)
    target = tmp_path / "report"
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_report(riot, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [], "a temporary folder was left behind"


def test_failure_keeps_the_earlier_report_whole(
    riot: WhatIfResult, written: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report"
    write_report(riot, target)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    monkeypatch.setattr(charts, "save_charts", _boom)
    with pytest.raises(RuntimeError):
        write_report(riot, target)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_rewriting_a_report_replaces_it_whole(riot: WhatIfResult, tmp_path: Path) -> None:
    target = tmp_path / "report"
    write_report(riot, target)
    (target / "stale.txt").write_text("from before", encoding="utf-8")
    assert write_report(riot, target) == target
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_refuses_a_folder_that_is_not_a_report(riot: WhatIfResult, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine", encoding="utf-8")
    with pytest.raises(ReportError, match="not empty"):
        write_report(riot, busy)
    assert (busy / "thesis.tex").read_text(encoding="utf-8") == "mine"
    afile = tmp_path / "file"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(ReportError, match="not a folder"):
        write_report(riot, afile)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_report(riot, empty) / "report.md").is_file()


def test_cli_report(tmp_path: Path) -> None:
    target = tmp_path / "r"
    args = ["report", "no_plot", "--scenario", TESTBED, "--runs", "500", "--seed", "3"]
    out = CliRunner().invoke(app, [*args, "--out", str(target)])
    assert out.exit_code == 0, out.output
    assert (target / "report.md").is_file() and str(target) in out.stdout
    afile = tmp_path / "file"
    afile.write_text("x", encoding="utf-8")
    bad = CliRunner().invoke(app, [*args, "--out", str(afile)])
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "not a folder" in bad.stderr
    missing = CliRunner().invoke(app, ["report", "no_plot", "--scenario", TESTBED])
    assert missing.exit_code == 2


def test_api_report(tmp_path: Path) -> None:
    folder = k.report("no_plot", tmp_path / "api", TESTBED, runs=300, seed=2)
    assert folder == tmp_path / "api" and (folder / "report.bbcode").is_file()


# -- forum posts -----------------------------------------------------------------------------


def _body(post: str) -> list[str]:
    """A post's lines without its numbered header and the tags reopened or closed at its cuts."""
    lines = post.rstrip("\n").split("\n")[1:]
    reopened = re.compile(r"^\[(list|quote)\]$|^\[spoiler=.* \(continued\)\]$")
    while lines and reopened.match(lines[0]):
        lines.pop(0)
    return lines


@pytest.mark.parametrize("size", [MIN_POST_SIZE, 3_500, DEFAULT_POST_SIZE])
def test_report_is_cut_into_numbered_balanced_posts(
    riot: WhatIfResult, tmp_path: Path, size: int
) -> None:
    folder = write_report(riot, tmp_path / "r", post_size=size)
    whole = (folder / "report.bbcode").read_text(encoding="utf-8")
    names = sorted(p.name for p in (folder / "posts").iterdir())
    posts = [(folder / "posts" / n).read_text(encoding="utf-8") for n in names]
    total = len(posts)
    assert total >= -(-len(whole) // size)  # no fewer posts than the size allows
    assert names == [f"post-{n:02d}.bbcode" for n in range(1, total + 1)]
    for number, post in enumerate(posts, 1):
        assert len(post) <= size, (number, len(post))
        assert post.startswith(f"[b]What if: {title(riot)}: post {number} of {total}[/b]\n")
        check_bbcode(post)  # every post is balanced on its own
    # Nothing lost, nothing added: the posts' lines, cuts undone, are the whole report's.
    kept = [line for post in posts for line in _body(post)]
    original = [line for line in whole.rstrip("\n").split("\n") if line.strip()]
    closers = {"[/list]", "[/spoiler]", "[/quote]"}
    assert [x for x in kept if x.strip() and x not in closers] == [
        x for x in original if x not in closers
    ]
    if size == MIN_POST_SIZE:
        assert total >= 3 and any("(continued)]" in p for p in posts)


def test_one_post_when_the_report_fits(riot: WhatIfResult, tmp_path: Path) -> None:
    folder = write_report(riot, tmp_path / "r", post_size=MAX_POST_SIZE)
    posts = list((folder / "posts").iterdir())
    whole = (folder / "report.bbcode").read_text(encoding="utf-8")
    assert len(whole) < MAX_POST_SIZE and len(posts) == 1
    assert _body(posts[0].read_text(encoding="utf-8")) == whole.rstrip("\n").split("\n")


def test_images_by_an_absolute_base_address(riot: WhatIfResult, tmp_path: Path) -> None:
    folder = write_report(riot, tmp_path / "r", image_base="https://img.example.org/kr/")
    text = (folder / "report.bbcode").read_text(encoding="utf-8")
    images = re.findall(r"\[img\](.*?)\[/img\]", text)
    assert images == [f"https://img.example.org/kr/{s}.png" for s in CHARTS]
    assert "upload the PNG files" not in text
    posts = "".join(p.read_text(encoding="utf-8") for p in (folder / "posts").iterdir())
    assert sorted(re.findall(r"\[img\](.*?)\[/img\]", posts)) == sorted(images)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"post_size": 100}, "between 2,000 and 200,000 characters, not 100"),
        ({"post_size": 200_001}, "between 2,000 and 200,000 characters, not 200,001"),
        ({"image_base": "img/charts"}, "absolute http:// or https:// address"),
        ({"image_base": "https://x.org/a b"}, "absolute http:// or https:// address"),
    ],
)
def test_bad_post_options_are_refused(
    riot: WhatIfResult, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ReportError, match=re.escape(message)):
        write_report(riot, tmp_path / "r", **options)
    assert not (tmp_path / "r").exists()


def test_a_line_too_long_for_a_post_is_a_clear_error() -> None:
    with pytest.raises(PostSizeError, match="a line of 2,500 characters"):
        split_posts("short\n" + "x" * 2_500 + "\n", MIN_POST_SIZE)


def test_cli_report_post_options(tmp_path: Path) -> None:
    args = ["report", "no_plot", "--scenario", str(TESTBED), "--runs", "300", "--seed", "3"]
    out = CliRunner().invoke(
        app,
        [
            *args,
            "--out",
            str(tmp_path / "r"),
            "--post-size",
            "2500",
            "--image-base",
            "https://example.org/r",
        ],
    )
    assert out.exit_code == 0, out.output
    posts = sorted((tmp_path / "r" / "posts").iterdir())
    assert len(posts) >= 2 and all(len(p.read_text(encoding="utf-8")) <= 2500 for p in posts)
    assert f"{len(posts)} forum posts" in out.stdout
    for bad in (["--post-size", "250000"], ["--post-size", "ten"], ["--image-base", "x"]):
        refused = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad"), *bad])
        assert refused.exit_code == 2, (bad, refused.output)
        assert not (tmp_path / "bad").exists()

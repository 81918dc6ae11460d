"""Rendering a chronicle as plain text, Markdown, forum BBCode or an HTML fragment.

Every format shows the same three parts: the common history before the divergence (identical in
both worlds by construction), the what-if world from the divergence on, and its factual twin. An
entry that does not happen in the other world in the same month (with the same option) is marked.
Each entry is one line (one list item) holding exactly one entry's sentence, so every sentence can
be traced to its event; the JSON form names the event and month behind each.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kremlinology.months import month_words, parse_month

if TYPE_CHECKING:
    # For the type checker only: chronicle.py renders through this module, which reads the
    # chronicles it is given and never builds one.
    from kremlinology.narrate.chronicle import Chronicle, Entry

BBCODE_TAGS = ("b", "i", "url", "list", "quote", "spoiler", "img")
"""The markup alternate-history forums accept; ``[*]`` marks the items of a ``[list]``."""
WHATIF_MARK = "departs from the factual twin"
FACTUAL_MARK = "not in the what-if world"


@dataclass(frozen=True)
class Part:
    """A titled list of entries; ``mark`` explains what a departure means in it."""

    key: str  # "common", "whatif" or "factual"
    title: str
    entries: list[Entry]
    mark: str


def parts(chronicle: Chronicle) -> list[Part]:
    """Split a chronicle into common history, what-if world and factual twin (empty parts out)."""
    divergence = chronicle.divergence_month
    when = month_words(parse_month(divergence))
    before = month_words(parse_month(divergence) - 1)
    common = [e for e in chronicle.whatif if e.month < divergence]
    found = [
        Part("common", f"Common history, to {before}", common, ""),
        Part(
            "whatif",
            f"What-if world, from {when}",
            [e for e in chronicle.whatif if e.month >= divergence],
            WHATIF_MARK,
        ),
        Part(
            "factual",
            f"Factual twin, from {when}",
            [e for e in chronicle.factual if e.month >= divergence],
            FACTUAL_MARK,
        ),
    ]
    return [p for p in found if p.entries or p.key != "common"]


def heading(chronicle: Chronicle) -> str:
    """The chronicle's title line: its title and timeline."""
    return f"{chronicle.title}: timeline {chronicle.timeline}"


def intervention_line(chronicle: Chronicle) -> str:
    """The interventions and the divergence month, in words."""
    when = month_words(parse_month(chronicle.divergence_month))
    return f"Intervention: {' + '.join(chronicle.interventions)}. The worlds part in {when}."


def legend(marker: str) -> str:
    """What the departure mark means."""
    return (
        f"Entries {marker} happen in one world but not in the other, "
        "or not in the same month there."
    )


def why(chronicle: Chronicle) -> str:
    """Why this timeline was chosen, in words."""
    note = chronicle.note or "a timeline chosen by its number"
    return f"Why this timeline: {note}."


def prose_paragraphs(chronicle: Chronicle) -> list[str]:
    """The checked prose of a language model, as paragraphs (none without prose)."""
    if not chronicle.prose:
        return []
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", chronicle.prose.strip()) if p.strip()]


PROSE_TITLE = "Narration (written by a language model, checked against the entries below)"


# -- plain text ------------------------------------------------------------------------------


def text(chronicle: Chronicle) -> str:
    """The chronicle as plain text."""
    lines = [heading(chronicle), intervention_line(chronicle), why(chronicle), legend("marked *")]
    prose = prose_paragraphs(chronicle)
    if prose:
        lines += ["", PROSE_TITLE]
        for paragraph in prose:
            lines += [paragraph, ""]
        lines.pop()
    for part in parts(chronicle):
        lines += ["", part.title]
        if not part.entries:
            lines.append("  (nothing happens)")
        for entry in part.entries:
            lines.append(f"{'*' if entry.departure else ' '} {entry.month}  {entry.text}")
    return "\n".join(lines) + "\n"


# -- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")


def md_escape(value: str) -> str:
    """Escape the characters Markdown reads as inline markup (text never starts a line here)."""
    return _MD_SPECIAL.sub(r"\\\1", value)


def markdown(chronicle: Chronicle, level: int = 2) -> str:
    """The chronicle as Markdown, its title at heading ``level``."""
    h = "#" * level
    lines = [f"{h} {md_escape(heading(chronicle))}", "", f"*{md_escape(why(chronicle))}*", ""]
    lines += [
        f"**Intervention:** `{' + '.join(chronicle.interventions)}`. The worlds part in "
        f"{month_words(parse_month(chronicle.divergence_month))}. {legend('in bold')}",
    ]
    prose = prose_paragraphs(chronicle)
    if prose:
        lines += ["", f"{h}# {PROSE_TITLE}"]
        for paragraph in prose:
            lines += ["", md_escape(paragraph)]
    for part in parts(chronicle):
        lines += ["", f"{h}# {part.title}", ""]
        if not part.entries:
            lines.append("*Nothing happens.*")
        for entry in part.entries:
            body = md_escape(entry.text)
            if entry.departure:
                body = f"**{body}** *({part.mark})*"
            lines.append(f"- {entry.month}: {body}")
    return "\n".join(lines) + "\n"


# -- BBCode ----------------------------------------------------------------------------------


def bb_escape(value: str) -> str:
    """BBCode has no escape; square brackets become parentheses so no text reads as a tag."""
    return value.replace("[", "(").replace("]", ")")


def bbcode(chronicle: Chronicle) -> str:
    """The chronicle as forum BBCode."""
    lines = [
        f"[b]{bb_escape(heading(chronicle))}[/b]",
        f"[i]{bb_escape(why(chronicle))}[/i]",
        "",
        bb_escape(f"{intervention_line(chronicle)} {legend('in bold')}"),
    ]
    prose = prose_paragraphs(chronicle)
    if prose:
        lines += [
            "",
            f"[b]{PROSE_TITLE}[/b]",
            "[quote]",
            "\n\n".join(bb_escape(p) for p in prose),
            "[/quote]",
        ]
    for part in parts(chronicle):
        items = bb_items(part)
        if part.key == "factual":
            lines += ["", f"[spoiler={bb_escape(part.title)}]", *items, "[/spoiler]"]
        else:
            lines += ["", f"[b]{bb_escape(part.title)}[/b]", *items]
    return "\n".join(lines) + "\n"


def bb_items(part: Part) -> list[str]:
    """Entries as BBCode list items (departures marked)."""
    if not part.entries:
        return ["[i]Nothing happens.[/i]"]
    lines = ["[list]"]
    for entry in part.entries:
        body = bb_escape(entry.text)
        if entry.departure:
            body = f"[b]{body}[/b] [i]({part.mark})[/i]"
        lines.append(f"[*]{entry.month}: {body}")
    return [*lines, "[/list]"]


# -- HTML ------------------------------------------------------------------------------------


def html(chronicle: Chronicle, level: int = 2) -> str:
    """A self-contained fragment (``<article>``); entries carry data-event/data-month."""
    esc = html_lib.escape
    h, sub = f"h{level}", f"h{min(level + 1, 6)}"
    lines = [
        f'<article class="chronicle" data-timeline="{chronicle.timeline}" '
        f'data-divergence="{esc(chronicle.divergence_month)}">',
        f"<{h}>{esc(heading(chronicle))}</{h}>",
        f'<p class="why"><em>{esc(why(chronicle))}</em></p>',
        f'<p class="intervention">Intervention: <code>{esc(" + ".join(chronicle.interventions))}'
        f"</code>. The worlds part in {esc(month_words(parse_month(chronicle.divergence_month)))}. "
        f"{esc(legend('in bold'))}</p>",
    ]
    prose = prose_paragraphs(chronicle)
    if prose:
        lines += [f'<section class="prose"><{sub}>{esc(PROSE_TITLE)}</{sub}>']
        lines += [f"<p>{esc(p)}</p>" for p in prose]
        lines.append("</section>")
    for part in parts(chronicle):
        lines.append(f'<section class="{part.key}"><{sub}>{esc(part.title)}</{sub}>')
        if not part.entries:
            lines.append("<p><em>Nothing happens.</em></p>")
        else:
            lines.append("<ol>")
            lines += [html_item(entry, part) for entry in part.entries]
            lines.append("</ol>")
        lines.append("</section>")
    lines.append("</article>")
    return "\n".join(lines) + "\n"


def html_item(entry: Entry, part: Part) -> str:
    """One entry as an HTML list item (escaped; departures marked)."""
    esc = html_lib.escape
    option = f' data-option="{esc(entry.option)}"' if entry.option is not None else ""
    body = f'<span class="text">{esc(entry.text)}</span>'
    css = ""
    if entry.departure:
        body = f"<strong>{body}</strong> <em>({esc(part.mark)})</em>"
        css = ' class="departure"'
    return (
        f'<li{css} data-month="{esc(entry.month)}" data-event="{esc(entry.event)}"{option}>'
        f'<time datetime="{esc(entry.month)}">{esc(entry.month)}</time> {body}</li>'
    )

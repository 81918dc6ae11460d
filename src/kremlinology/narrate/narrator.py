"""Optional prose narration of a chronicle by a language model (``--narrator openai``).

The chronicle's what-if entries go, as a dated list with event ids, to any endpoint that speaks the
OpenAI chat-completions protocol (``POST {base_url}/chat/completions``). The model is asked for
prose that keeps every date and cites the event id of each thing it tells in square brackets. The
answer is then checked against the entries, and rejected with the list of problems if:

- it cites no event, or cites an id that does not happen in this what-if timeline;
- it names a month (``1956-10``, ``October 1956``, ``5 October 1956``) that is no entry's month,
  or a bare year in which no entry falls;
- a sentence dates a cited event to a month in which that event does not happen (a moved date).

Configuration comes from the environment: KREMLINOLOGY_LLM_BASE_URL (e.g.
``http://127.0.0.1:8000/v1``), KREMLINOLOGY_LLM_MODEL, and KREMLINOLOGY_LLM_API_KEY (optional for
local servers). Nothing is sent anywhere unless a narrator is asked for.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from kremlinology.months import MONTH_NAMES, format_month, parse_month
from kremlinology.narrate.chronicle import Chronicle
from kremlinology.scenario.errors import KremlinologyError

ENV_BASE_URL = "KREMLINOLOGY_LLM_BASE_URL"
ENV_MODEL = "KREMLINOLOGY_LLM_MODEL"
ENV_API_KEY = "KREMLINOLOGY_LLM_API_KEY"
NARRATORS = ("none", "openai")
MAX_ANSWER = 100_000

SYSTEM_PROMPT = (
    "You write short alternate-history chronicles from a list of dated events produced by a "
    "simulation. Tell the events in order as flowing prose, in the past tense, in English. Rules: "
    "(1) keep every event's month exactly as given, written as 'Month YYYY' (for example "
    "'June 1953'); never move an event to another month and never invent other dates; "
    "(2) after each sentence, cite the id of every event the sentence tells, in square brackets, "
    "for example [beria_arrested]; cite only ids from the list; "
    "(3) do not add events that are not in the list. Events marked 'departs' do not happen, or not "
    "in that month, in real history: you may say so."
)

_MONTHS = MONTH_NAMES
_MONTH_NAMES = "|".join(
    sorted({*_MONTHS, *(m[:3] for m in _MONTHS), "Sept"}, key=len, reverse=True)
)
_NAMED_MONTH = re.compile(
    rf"\b({_MONTH_NAMES})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?\s+(\d{{4}})\b"
)
_ISO_MONTH = re.compile(r"(?<![\d-])(\d{4})-(\d{2})(?![\d-])")
_YEAR = re.compile(r"(?<![\d-])(1[5-9]\d\d|2\d\d\d)(?![\d-])")
_CITATION = re.compile(r"\[\s*([a-z][a-z0-9_]*(?:\s*,\s*[a-z][a-z0-9_]*)*)\s*\]")
_SENTENCE_CUT = re.compile(r"[.!?](?:\s*\[[^\]]*\])*(?=\s+[A-Z\"“(]|\s*$)|\n\s*\n")


class NarratorError(KremlinologyError):
    """The narrator is not configured, cannot be reached, or its answer was rejected."""


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask: an OpenAI-compatible base URL, a model name, an optional key."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMConfig:
        """The language model's settings from the environment; NarratorError if missing."""
        env = os.environ if env is None else env
        base_url = env.get(ENV_BASE_URL, "").strip()
        model = env.get(ENV_MODEL, "").strip()
        if not base_url or not model:
            raise NarratorError(
                f"the openai narrator needs {ENV_BASE_URL} (e.g. http://127.0.0.1:8000/v1) and "
                f"{ENV_MODEL} in the environment ({ENV_API_KEY} too if the server wants a key)"
            )
        if not base_url.startswith(("http://", "https://")):
            raise NarratorError(f"{ENV_BASE_URL} must start with http:// or https://")
        return cls(base_url.rstrip("/"), model, env.get(ENV_API_KEY) or None)


def event_list(chronicle: Chronicle) -> str:
    """The what-if entries as the model sees them: ``YYYY-MM [event_id] sentence``."""
    lines = []
    for entry in chronicle.whatif:
        mark = " (departs)" if entry.departure else ""
        option = f" option={entry.option}" if entry.option else ""
        lines.append(f"{entry.month} [{entry.event}]{option} {entry.text}{mark}")
    return "\n".join(lines)


def messages(chronicle: Chronicle) -> list[dict[str, str]]:
    """The chat messages sent for a chronicle."""
    user = (
        f"What-if: {chronicle.title} ({' + '.join(chronicle.interventions)}); the worlds part in "
        f"{chronicle.divergence_month}.\nEvents of this timeline, in order:\n"
        f"{event_list(chronicle)}"
        "\n\nWrite the chronicle in two to five paragraphs."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def request(
    config: LLMConfig, payload_messages: list[dict[str, str]], client: httpx.Client | None = None
) -> str:
    """Ask the endpoint; return the answer's text or raise NarratorError."""
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    payload: dict[str, Any] = {
        "model": config.model,
        "messages": payload_messages,
        "temperature": 0,
    }
    url = f"{config.base_url}/chat/completions"
    own = client is None
    http = client or httpx.Client(timeout=config.timeout_s)
    try:
        response = http.post(url, json=payload, headers=headers)
    except httpx.HTTPError as error:
        raise NarratorError(f"cannot reach the narrator at {url}: {error}") from None
    finally:
        if own:
            http.close()
    if response.status_code != 200:
        raise NarratorError(
            f"the narrator at {url} answered HTTP {response.status_code}: "
            f"{' '.join(response.text.split())[:200]}"
        )
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise NarratorError(
            f"the narrator at {url} did not answer in the chat-completions format"
        ) from None
    if not isinstance(content, str) or not content.strip():
        raise NarratorError("the narrator's answer is empty")
    if len(content) > MAX_ANSWER:
        raise NarratorError(f"the narrator's answer is longer than {MAX_ANSWER:,} characters")
    return content.strip()


def _month_number(name: str, year: str) -> int:
    index = next(i for i, m in enumerate(_MONTHS) if m.startswith(name[:3]))
    return int(year) * 12 + index


def dates_in(text: str) -> tuple[list[tuple[str, int]], list[int]]:
    """Return the months named in ``text`` as (as written, month number), and bare years."""
    months: list[tuple[str, int]] = []
    taken: list[tuple[int, int]] = []
    for match in _NAMED_MONTH.finditer(text):
        months.append((match.group(0), _month_number(match.group(1), match.group(2))))
        taken.append(match.span())
    for match in _ISO_MONTH.finditer(text):
        month = int(match.group(2))
        if 1 <= month <= 12:
            months.append((match.group(0), int(match.group(1)) * 12 + month - 1))
            taken.append(match.span())
    years = [
        int(m.group(1))
        for m in _YEAR.finditer(text)
        if not any(start <= m.start() < end for start, end in taken)
    ]
    return months, years


def citations(text: str) -> list[str]:
    """Return the event ids cited in square brackets, in order."""
    found = []
    for match in _CITATION.finditer(text):
        found += [part.strip() for part in match.group(1).split(",")]
    return found


def sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping each sentence's trailing citations with it."""
    found, start = [], 0
    for match in _SENTENCE_CUT.finditer(text):
        piece = text[start : match.end()].strip()
        if piece:
            found.append(piece)
        start = match.end()
    tail = text[start:].strip()
    return [*found, tail] if tail else found


def check(prose: str, chronicle: Chronicle) -> list[str]:
    """Return the problems of a narrated text against the chronicle's what-if entries."""
    months_of: dict[str, set[int]] = {}
    for entry in chronicle.whatif:
        for when, event, _ in entry.firings():  # a routine line stands for several months
            months_of.setdefault(event, set()).add(parse_month(when))
    entry_months: set[int] = set().union(*months_of.values())
    allowed = entry_months | {parse_month(chronicle.divergence_month)}
    entry_years = {m // 12 for m in allowed}
    problems = []
    cited = citations(prose)
    if not cited:
        problems.append("it cites no event id in [brackets]")
    for ident in dict.fromkeys(cited):
        if ident not in months_of:
            problems.append(f"it cites [{ident}], which does not happen in this timeline")
    for sentence in sentences(prose):
        months, years = dates_in(sentence)
        sentence_ids = [i for i in citations(sentence) if i in months_of]
        for written, month in months:
            if month not in allowed:
                problems.append(f"it names {written}, when nothing in this timeline happens")
            elif sentence_ids and not any(month in months_of[i] for i in sentence_ids):
                told = ", ".join(
                    f"[{i}] in {'/'.join(format_month(m) for m in sorted(months_of[i]))}"
                    for i in dict.fromkeys(sentence_ids)
                )
                problems.append(f"it dates {told} to {written}")
        for year in years:
            if year not in entry_years:
                problems.append(f"it names the year {year}, when nothing in this timeline happens")
    return list(dict.fromkeys(problems))


def narrate(
    chronicle: Chronicle, config: LLMConfig | None = None, client: httpx.Client | None = None
) -> Chronicle:
    """Return a copy of ``chronicle`` with checked prose from the configured language model."""
    config = config or LLMConfig.from_env()
    prose = request(config, messages(chronicle), client)
    problems = check(prose, chronicle)
    if problems:
        raise NarratorError(
            "the narrator's prose was rejected: "
            + "; ".join(problems[:8])
            + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
        )
    return dataclasses.replace(chronicle, prose=prose)

"""The optional language-model narrator against a local stub of the chat-completions protocol.

The stub listens on 127.0.0.1 on a free port in a thread; nothing goes to the network.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

import kremlinology.api as k
from conftest import TESTBED
from kremlinology.cli import app
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.months import month_words, parse_month
from kremlinology.narrate.chronicle import Chronicle, chronicle
from kremlinology.narrate.narrator import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MODEL,
    LLMConfig,
    NarratorError,
    check,
    citations,
    dates_in,
    narrate,
    sentences,
)

RUNS, SEED, TIMELINE = 2000, 7, 350
LINE = re.compile(r"^(\d{4}-\d{2}) \[([a-z0-9_]+)\](?: option=\S+)? (.*?)(?: \(departs\))?$")


class Stub(ThreadingHTTPServer):
    mode = "good"
    requests: list[dict[str, Any]]
    headers_seen: list[dict[str, str]]


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.headers_seen.append(dict(self.headers))
        mode = self.server.mode
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": "not found"})
        elif mode == "http_500":
            self._send(500, {"error": {"message": "model overloaded"}})
        elif mode == "garbage":
            self._send(200, {"answer": "no choices here"})
        else:
            content = compose(body["messages"][-1]["content"], mode)
            self._send(
                200,
                {
                    "id": "stub-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content},
                        }
                    ],
                },
            )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def compose(user: str, mode: str) -> str:
    """Write 'prose' from the event list the way a model would, or break it on purpose."""
    events = [m.groups() for line in user.splitlines() if (m := LINE.match(line))]
    assert events, "the request should list the events"
    parts = []
    for month, ident, text in events:
        when = month_words(parse_month(month))
        body = text[0].lower() + text[1:].rstrip(".")
        parts.append(f"In {when} came this: {body} [{ident}].")
    if mode == "unknown_id":
        parts.append("Meanwhile the palace burned [palace_fire].")
    elif mode == "moved_date":
        month, ident, _ = events[-1]
        parts.append(f"It all ended in January 1999 [{ident}].")
    elif mode == "wrong_month_for_event":
        # a real month of the timeline, but not the month of the cited event
        first, last = events[0], events[-1]
        assert first[0] != last[0]
        parts.append(f"In {month_words(parse_month(first[0]))} the end came [{last[1]}].")
    elif mode == "bare_year":
        parts.append("Historians still argued about it in 1987.")
    elif mode == "no_citation":
        parts = [re.sub(r" \[[a-z0-9_]+\]", "", p) for p in parts]
    paragraphs = [" ".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]
    return "\n\n".join(paragraphs)


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    server = Stub(("127.0.0.1", 0), Handler)
    server.requests, server.headers_seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def config(stub: Stub) -> LLMConfig:
    stub.mode = "good"
    return LLMConfig(f"http://127.0.0.1:{stub.server_address[1]}/v1", "stub-model", "sk-test", 10)


@pytest.fixture(scope="module")
def told() -> Chronicle:
    result: WhatIfResult = k.whatif("early_famine_riot", TESTBED, RUNS, SEED)
    return chronicle(result, timeline=TIMELINE)


def test_good_prose_is_accepted_and_kept(told: Chronicle, config: LLMConfig, stub: Stub) -> None:
    narrated = narrate(told, config)
    assert narrated.prose and "[riot]" in narrated.prose
    assert narrated.whatif == told.whatif and told.prose is None
    request = stub.requests[-1]
    assert request["model"] == "stub-model"
    assert request["messages"][0]["role"] == "system"
    assert "2000-03 [riot] Riot in the capital. (departs)" in request["messages"][1]["content"]
    assert stub.headers_seen[-1]["Authorization"] == "Bearer sk-test"
    assert narrated.to_dict()["prose"] == narrated.prose
    for fmt in ("text", "markdown", "bbcode", "html"):
        rendered = narrated.render(fmt)
        assert "Narration" in rendered and "came this" in rendered
    assert "[riot]" not in narrated.render("bbcode") and "(riot)" in narrated.render("bbcode")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("unknown_id", "cites [palace_fire], which does not happen in this timeline"),
        ("moved_date", "names January 1999, when nothing in this timeline happens"),
        ("wrong_month_for_event", "it dates [tax_protest] in"),
        ("bare_year", "names the year 1987"),
        ("no_citation", "cites no event id"),
        ("http_500", "answered HTTP 500"),
        ("garbage", "did not answer in the chat-completions format"),
    ],
)
def test_bad_answers_are_rejected_with_a_clear_message(
    told: Chronicle, config: LLMConfig, stub: Stub, mode: str, message: str
) -> None:
    stub.mode = mode
    with pytest.raises(NarratorError) as error:
        narrate(told, config)
    assert message in str(error.value)


def test_unreachable_endpoint(told: Chronicle) -> None:
    dead = LLMConfig("http://127.0.0.1:9/v1", "m", None, 2)
    with pytest.raises(NarratorError, match="cannot reach the narrator"):
        narrate(told, dead)


def test_config_from_environment() -> None:
    with pytest.raises(NarratorError, match=ENV_BASE_URL):
        LLMConfig.from_env({})
    with pytest.raises(NarratorError, match="http"):
        LLMConfig.from_env({ENV_BASE_URL: "ftp://x", ENV_MODEL: "m"})
    found = LLMConfig.from_env({ENV_BASE_URL: "http://h:1/v1/", ENV_MODEL: "m"})
    assert found.base_url == "http://h:1/v1" and found.api_key is None


def test_checker_details(told: Chronicle) -> None:
    assert citations("a [riot, famine] b [plot]") == ["riot", "famine", "plot"]
    months, years = dates_in("On 5 March 2000, in 2000-04 and in Oct. 2000, not 1999-13; 1987.")
    assert [m for _, m in months] == [
        parse_month("2000-03"),
        parse_month("2000-10"),
        parse_month("2000-04"),
    ]
    assert years == [1987]
    assert sentences("One [a]. Two. [b] Three!\n\nFour") == [
        "One [a].",
        "Two. [b]",
        "Three!",
        "Four",
    ]
    ok = "In March 2000 the capital rioted [riot]. In October 2000 the king gave up [abdication]."
    assert check(ok, told) == []
    moved = "In November 2000 the king gave up [abdication]."
    assert check(moved, told) == ["it dates [abdication] in 2000-10 to November 2000"]
    # The divergence month may be named even when nothing else happens then.
    assert check("The worlds parted in March 2000 [riot].", told) == []


def test_cli_narrator_openai(told: Chronicle, stub: Stub, config: LLMConfig) -> None:
    env = {ENV_BASE_URL: config.base_url, ENV_MODEL: "stub-model", ENV_API_KEY: ""}
    args = [
        "chronicle",
        "early_famine_riot",
        "--scenario",
        TESTBED,
        "--runs",
        str(RUNS),
        "--seed",
        str(SEED),
        "--timeline",
        str(TIMELINE),
        "--narrator",
        "openai",
    ]
    out = CliRunner().invoke(app, [*args, "--format", "json"], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert "[riot]" in data["prose"] and data["whatif"] == told.to_dict()["whatif"]
    assert "Authorization" not in stub.headers_seen[-1]
    stub.mode = "unknown_id"
    bad = CliRunner().invoke(app, args, env=env)
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1 and "rejected" in bad.stderr
    missing = CliRunner().invoke(app, args, env={ENV_BASE_URL: "", ENV_MODEL: ""})
    assert missing.exit_code == 2 and ENV_BASE_URL in missing.stderr

"""The web explorer's JSON API and pages, through httpx (FastAPI's TestClient), on the testbed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import kremlinology.api
from conftest import TESTBED
from kremlinology.cli import app as cli
from kremlinology.web.app import create_app
from kremlinology.web.service import Explorer, Settings

RUNS = 400


def settings(store: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "scenario": str(TESTBED),
        "store_path": store,
        "max_runs": 5000,
        "default_runs": RUNS,
        "workers": 2,
    }
    return Settings(**(values | changes))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web") / "results.sqlite3"


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(store))) as test_client:
        yield test_client


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def without_elapsed(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "elapsed_s"}


def wait_done(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# The JSON API answers with the CLI's objects ---------------------------------------------------


def test_whatif_is_the_clis_json_and_comes_back_identically(client: TestClient) -> None:
    params = {"scenario": "testbed", "q": "no_plot", "runs": RUNS, "seed": 3}
    first = client.get("/api/whatif", params=params)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/json"
    code, out, _ = run_cli(
        "whatif",
        "no_plot",
        "--scenario",
        str(TESTBED),
        "--runs",
        str(RUNS),
        "--seed",
        "3",
        "--json",
    )
    assert code == 0
    assert without_elapsed(first.json()) == without_elapsed(json.loads(out))
    again = client.get("/api/whatif", params=params)  # from the cache: byte for byte the same
    assert again.text == first.text
    direct = kremlinology.api.whatif("no_plot", str(TESTBED), RUNS, 3)
    assert first.text == json.dumps(json.loads(first.text))  # the CLI's formatting
    assert without_elapsed(json.loads(direct.to_json())) == without_elapsed(first.json())


def test_history_and_catalogue_are_the_clis(client: TestClient) -> None:
    history = client.get("/api/history", params={"runs": RUNS, "seed": 2})
    assert history.status_code == 200
    code, out, _ = run_cli(
        "history", "--scenario", str(TESTBED), "--runs", str(RUNS), "--seed", "2", "--json"
    )
    assert code == 0 and history.json() == json.loads(out)
    catalogue = client.get("/api/whatifs")
    code, out, _ = run_cli("whatifs", "--scenario", str(TESTBED), "--json")
    assert code == 0 and catalogue.json() == json.loads(out)
    assert catalogue.json()["scenario"]["name"] == "testbed"
    assert [w["id"] for w in catalogue.json()["whatifs"]] == ["no_plot", "early_famine_riot"]


def test_chronicles_and_families(client: TestClient) -> None:
    params: dict[str, Any] = {"q": "no_plot", "runs": RUNS, "seed": 3}
    typical = client.get("/api/chronicle", params=params)
    assert typical.status_code == 200, typical.text
    code, out, _ = run_cli(
        "chronicle",
        "no_plot",
        "--scenario",
        str(TESTBED),
        "--runs",
        str(RUNS),
        "--seed",
        "3",
        "--format",
        "json",
    )
    assert code == 0 and typical.json() == json.loads(out)
    story = typical.json()
    assert story["whatif"] and {"month", "event", "text", "departure"} <= set(story["whatif"][0])
    chosen = client.get("/api/chronicle", params=params | {"timeline": 7})
    assert chosen.status_code == 200 and chosen.json()["timeline"] == 7
    families = client.get("/api/families", params=params)
    assert families.status_code == 200
    shares = [f["family"]["share"] for f in families.json()]
    assert shares and abs(sum(shares) - 1.0) < 1e-9
    assert all(f["chronicle"]["whatif"] for f in families.json())
    for bad in ({"timeline": RUNS}, {"pick": "weird"}):
        answer = client.get("/api/chronicle", params=params | bad)
        assert answer.status_code == 400, answer.text


# Bad input: 4xx with the CLI's message, never a 500 --------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "zzz nothing like it",
        "block(no_such_event)",
        "do(plot @ 1999-01)",
        "choose(discovered, nope)",
        "set(unrest = 'high' @ 2000-03)",
        "block(plot",
        "   ",
    ],
)
def test_a_bad_query_gets_the_clis_message(client: TestClient, query: str) -> None:
    answer = client.get("/api/whatif", params={"q": query, "runs": RUNS})
    assert answer.status_code == 400, answer.text
    code, _, err = run_cli("whatif", query, "--scenario", str(TESTBED), "--runs", str(RUNS))
    assert code == 2
    assert "error: " + answer.json()["detail"] == err.strip()
    page = client.get("/whatif", params={"scenario": "testbed", "q": query, "runs": RUNS})
    if query.strip():
        assert page.status_code == 400
        assert "That did not work" in page.text
        assert answer.json()["detail"].split("'")[0] in page.text


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"q": "no_plot", "runs": 5001}, 422, "caps runs at 5,000"),
        ({"q": "no_plot", "runs": 0}, 422, "runs"),
        ({"q": "no_plot", "runs": "many"}, 422, "integer"),
        ({"q": "no_plot", "seed": -1}, 422, "seed"),
        ({"runs": 10}, 422, "q"),
        ({"q": "no_plot", "scenario": "atlantis"}, 404, "unknown scenario 'atlantis'"),
        ({"q": "no_plot", "scenario": "../../etc"}, 404, "unknown scenario"),
    ],
)
def test_bad_parameters(
    client: TestClient, params: dict[str, Any], status: int, words: str
) -> None:
    answer = client.get("/api/whatif", params=params)
    assert answer.status_code == status
    assert words in answer.json()["detail"]


def test_unknown_things_are_404(client: TestClient) -> None:
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/report/" + "0" * 64 + "/report.md").status_code == 404
    assert client.get("/report/not-a-digest/report.md").status_code == 404
    assert client.get("/api/scenario", params={"scenario": "atlantis"}).status_code == 404


# Jobs, the cache, restarts, failures -----------------------------------------------------------


def test_jobs_run_off_the_request_path(client: TestClient) -> None:
    body = {"kind": "whatif", "q": "early_famine_riot", "runs": RUNS, "seed": 5}
    started = client.post("/api/jobs", json=body)
    assert started.status_code == 202, started.text
    status = wait_done(client, started.json()["id"])
    assert status["state"] == "done" and status["progress"] == 1.0
    assert status["page_url"].startswith("/whatif?scenario=testbed&q=early_famine_riot")
    result = client.get(status["result_url"])
    assert result.status_code == 200 and result.json()["matched"]["id"] == "early_famine_riot"
    cached = client.post("/api/jobs", json=body)
    assert cached.status_code == 200 and cached.json()["id"] is None
    assert cached.json()["state"] == "done"
    assert client.post("/api/jobs", json=body | {"q": "zzz"}).status_code == 400
    assert client.post("/api/jobs", json=body | {"colour": "red"}).status_code == 422
    history = client.post("/api/jobs", json={"kind": "history", "runs": 300})
    assert history.status_code == 202
    assert wait_done(client, history.json()["id"])["state"] == "done"


def test_results_survive_a_restart(store: Path, client: TestClient, monkeypatch: Any) -> None:
    params = {"q": "no_plot", "runs": RUNS, "seed": 3}
    before = client.get("/api/whatif", params=params).text

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached result was computed again")

    monkeypatch.setattr(kremlinology.api, "whatif", refuse)
    with TestClient(create_app(settings(store))) as restarted:
        assert restarted.get("/api/whatif", params=params).text == before
        page = restarted.get("/whatif", params={"scenario": "testbed", **params})
        assert page.status_code == 200 and 'class="outcomes"' in page.text


def test_recomputing_gives_the_same_result(tmp_path: Path, client: TestClient) -> None:
    params = {"q": "no_plot", "runs": RUNS, "seed": 3}
    cached = client.get("/api/whatif", params=params).json()
    with TestClient(create_app(settings(tmp_path / "fresh.sqlite3"))) as fresh:
        recomputed = fresh.get("/api/whatif", params=params).json()
    assert without_elapsed(recomputed) == without_elapsed(cached)


def test_a_crashing_job_loses_nothing_else(tmp_path: Path, monkeypatch: Any) -> None:
    real = kremlinology.api.whatif

    def flaky(query: str, scenario: Any, runs: int, seed: int, **kwargs: Any) -> Any:
        if seed == 13:
            raise RuntimeError("injected failure")
        return real(query, scenario, runs, seed, **kwargs)

    monkeypatch.setattr(kremlinology.api, "whatif", flaky)
    with TestClient(create_app(settings(tmp_path / "s.sqlite3"))) as test_client:
        explorer: Explorer = test_client.app.state.explorer  # type: ignore[attr-defined]
        ids = {}
        for seed in (11, 12, 13, 14):
            answer = test_client.post("/api/jobs", json={"q": "no_plot", "runs": 300, "seed": seed})
            ids[seed] = answer.json()["id"]
        states = {seed: wait_done(test_client, job)["state"] for seed, job in ids.items()}
        assert states == {11: "done", 12: "done", 13: "failed", 14: "done"}
        failed = test_client.get(f"/api/jobs/{ids[13]}").json()
        assert failed["error_kind"] == "internal" and "injected failure" in failed["error"]
        answer = test_client.get("/api/whatif", params={"q": "no_plot", "runs": 300, "seed": 13})
        assert answer.status_code == 500 and "injected failure" in answer.json()["detail"]
        assert explorer.store.integrity() == "ok" and explorer.store.count() == 3
        monkeypatch.setattr(kremlinology.api, "whatif", real)  # failures are not cached
        answer = test_client.get("/api/whatif", params={"q": "no_plot", "runs": 300, "seed": 13})
        assert answer.status_code == 200


def test_a_slow_job_answers_202_and_a_full_queue_503(tmp_path: Path, monkeypatch: Any) -> None:
    gate = threading.Event()
    real = kremlinology.api.whatif

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(kremlinology.api, "whatif", slow)
    config = settings(tmp_path / "s.sqlite3", workers=1, max_pending=1, wait_s=0.2)
    with TestClient(create_app(config)) as test_client:
        try:
            params = {"q": "no_plot", "runs": 300}
            first = test_client.get("/api/whatif", params=params | {"seed": 1})
            assert first.status_code == 202 and first.headers["location"].startswith("/api/jobs/")
            assert first.json()["state"] in ("queued", "running")
            second = test_client.get("/api/whatif", params=params | {"seed": 2})
            assert second.status_code == 202 and second.json()["position"] == 0
            third = test_client.get("/api/whatif", params=params | {"seed": 3})
            assert third.status_code == 503 and "busy" in third.json()["detail"]
            assert 1 <= int(third.headers["retry-after"]) <= 600
        finally:
            gate.set()
        assert wait_done(test_client, first.json()["id"])["state"] == "done"
        assert wait_done(test_client, second.json()["id"])["state"] == "done"


# Pages -------------------------------------------------------------------------------------------


def test_the_whatif_page_from_form_to_result(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200
    for text in (
        "What if history had gone differently?",
        'for="whatif"',
        'for="q"',
        'for="runs"',
        'for="seed"',
        "The rebel never plots",
    ):
        assert text in home.text
    form = {
        "form": "1",
        "scenario": "testbed",
        "whatif": "no_plot",
        "q": "",
        "runs": str(RUNS),
        "seed": "4",
        "condition": "on",
    }
    submitted = client.get("/whatif", params=form, follow_redirects=False)
    assert submitted.status_code == 303
    url = submitted.headers["location"]
    assert url == f"/whatif?scenario=testbed&q=no_plot&runs={RUNS}&seed=4"
    pending = client.get(url)
    assert pending.status_code == 200
    job = re.search(r'data-job="([0-9a-f]+)"', pending.text)
    if job is not None:  # not finished yet: the page shows progress, then the result
        assert "Working on it" in pending.text
        assert wait_done(client, job.group(1))["state"] == "done"
    page = client.get(url)
    assert page.status_code == 200 and 'data-job="' not in page.text
    for text in (
        'class="outcomes"',
        "As history went (baseline)",
        "With the change (what-if)",
        "95% interval of the change",
        'class="curve"',
        'class="chronicle"',
        "Markdown report",
        "BBCode report",
        "JSON result",
        "The rebel was crushed",
    ):
        assert text in page.text, text
    # the drivers and the why-chain follow in the background, once the queue is quiet
    deadline = time.monotonic() + 120
    while "The drivers are being found" in page.text:
        assert time.monotonic() < deadline, "the background never explained the answer"
        time.sleep(0.2)
        page = client.get(url)
    assert "Why this happened in this world" in page.text and 'class="drivers"' in page.text
    unconditioned = client.get("/whatif", params=form | {"condition": ""}, follow_redirects=False)
    assert unconditioned.headers["location"].endswith("&condition=false")
    for link in re.findall(r'href="(/report/[0-9a-f]{64}/[^"]+)"', page.text):
        download = client.get(link)
        assert download.status_code == 200 and download.content
    markdown = re.search(r'href="(/report/[0-9a-f]{64}/report\.md)"', page.text)
    assert markdown is not None and "rebel" in client.get(markdown.group(1)).text.lower()


def test_history_scenario_and_api_pages(client: TestClient) -> None:
    url = f"/history?scenario=testbed&runs={RUNS}&seed=1"
    first = client.get(url)
    job = re.search(r'data-job="([0-9a-f]+)"', first.text)
    if job is not None:
        assert wait_done(client, job.group(1))["state"] == "done"
    page = client.get(url)
    assert page.status_code == 200 and "There was a famine in June" in page.text
    assert "held-out facts" in page.text and 'class="facts"' in page.text
    scenario = client.get("/scenario?scenario=testbed")
    assert scenario.status_code == 200
    for text in (
        "The King",
        "power",
        "The plot is discovered",
        "doc:docs/scenario-format.md",
        "What-if catalogue",
        "Ask this what-if",
        "There was a famine in June",
    ):
        assert text in scenario.text, text
    assert client.get("/scenario?scenario=atlantis").status_code == 404
    docs = client.get("/api-docs")
    assert docs.status_code == 200 and "/api/whatif" in docs.text and "/openapi.json" in docs.text
    spec = client.get("/openapi.json").json()
    assert {
        "/api/whatif",
        "/api/history",
        "/api/scenario",
        "/api/whatifs",
        "/api/chronicle",
        "/api/jobs",
        "/api/jobs/{job_id}",
    } <= set(spec["paths"])
    assert spec["paths"]["/api/whatif"]["get"]["parameters"][2]["schema"]["maximum"] == 5000
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_scenario_json(client: TestClient) -> None:
    described = client.get("/api/scenario").json()
    assert described["scenario"]["name"] == "testbed"
    assert [e["id"] for e in described["events"]][:2] == ["plot", "discovered"]
    assert described["events"][1]["trigger"] == {"event": "plot", "delay": 1}
    listed = client.get("/api/scenarios").json()
    assert {
        "name": "testbed",
        "title": described["title"],
        "default": True,
        "loads": True,
        "error": None,
    } in listed


def test_a_report_is_written_after_its_answer(tmp_path: Path, monkeypatch: Any) -> None:
    """The answer does not wait for its drivers, why-chain and report; they are found later
    (here: when a report file is asked for) and the stored answer becomes the whole one, which
    the JSON API waits for."""
    monkeypatch.setattr(Explorer, "_queue_report", lambda self, request, client: None)
    params = {"scenario": "testbed", "q": "no_plot", "runs": RUNS, "seed": 11}
    with TestClient(create_app(settings(tmp_path / "r.sqlite3"))) as fresh:
        first = fresh.get("/whatif", params=params)
        job = re.search(r'data-job="([0-9a-f]+)"', first.text)
        if job is not None:
            assert wait_done(fresh, job.group(1))["state"] == "done"
        explorer: Explorer = fresh.app.state.explorer  # type: ignore[attr-defined]
        wanted = explorer.whatif_request(None, "no_plot", RUNS, 11)
        digest = wanted.key.digest
        stored = explorer.cached(wanted)
        assert stored is not None and stored["explained"] is False
        assert stored["result"]["drivers"] == [] and stored["why"] is None
        assert explorer.store.files(digest) == ["result.json"]  # the report is not written yet
        page = fresh.get("/whatif", params=params)
        assert "The drivers are being found" in page.text and 'class="outcomes"' in page.text
        chart = fresh.get(f"/report/{digest}/divergence.svg")
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
        assert "report.md" in explorer.store.files(digest)
        whole = explorer.cached(wanted)
        assert whole is not None and whole["explained"] is True and whole["result"]["drivers"]
        assert whole["chronicle"] == stored["chronicle"]  # the first answer's parts stay
        markdown = fresh.get(f"/report/{digest}/report.md")
        assert markdown.status_code == 200 and "rebel" in markdown.text.lower()
        assert fresh.get(f"/report/{digest}/nothing.txt").status_code == 404
        assert "The drivers are being found" not in fresh.get("/whatif", params=params).text
        history = explorer.history_request(None, RUNS, 1)
        assert fresh.get("/api/history", params={"runs": RUNS, "seed": 1}).status_code == 200
        # a stored answer that is not a what-if has no report to write
        assert fresh.get(f"/report/{history.key.digest}/report.md").status_code == 404


def test_the_json_answer_waits_for_the_drivers(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(Explorer, "_queue_report", lambda self, request, client: None)
    params = {"q": "no_plot", "runs": RUNS, "seed": 12}
    with TestClient(create_app(settings(tmp_path / "j.sqlite3"))) as fresh:
        answer = fresh.get("/api/whatif", params=params)
        assert answer.status_code == 200 and answer.json()["drivers"]
        assert answer.json()["drivers_method"] is not None
        explorer: Explorer = fresh.app.state.explorer  # type: ignore[attr-defined]
        assert explorer.explained(explorer.whatif_request(None, "no_plot", RUNS, 12))

"""Hostile web requests (issue 12): oversize bodies refused before reading, long messages cut."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import TESTBED
from kremlinology.limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS
from kremlinology.web.app import create_app
from kremlinology.web.service import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("hostile-web") / "s.sqlite3"
    settings = Settings(scenario=str(TESTBED), store_path=store, max_runs=2000, default_runs=200)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_an_oversize_body_is_refused_by_its_length_before_reading(client: TestClient) -> None:
    chunks_read = []

    def body() -> Iterator[bytes]:
        for _ in range(20 * 1024):  # 20 MB, announced but mostly never sent
            chunks_read.append(1)
            yield b"x" * 1024

    answer = client.post(
        "/api/jobs",
        content=body(),
        headers={"content-type": "application/json", "content-length": str(20 * 2**20)},
    )
    assert answer.status_code == 413
    assert answer.json()["detail"] == f"the request body is larger than {MAX_BODY_BYTES:,} bytes"


def test_an_oversize_chunked_body_is_cut_off(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(20 * 1024):
            yield b" " * 1024

    answer = client.post("/api/jobs", content=body(), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_a_body_under_the_limit_is_read(client: TestClient) -> None:
    answer = client.post("/api/jobs", json={"kind": "history", "runs": 100, "seed": 3})
    assert answer.status_code in (200, 202)


def test_error_messages_are_cut(client: TestClient) -> None:
    answer = client.get("/api/whatif", params={"q": "x" * 480, "runs": 100})
    assert answer.status_code == 400
    assert len(answer.json()["detail"]) <= MAX_MESSAGE_CHARS


def test_invalid_json_gets_422_not_500(client: TestClient) -> None:
    answer = client.post(
        "/api/jobs", content=b"{" * 50_000, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422

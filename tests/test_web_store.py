"""The result store: round trips, restarts, one transaction per write, and crashes mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kremlinology.web.store import CacheKey, ResultStore

REPO = Path(__file__).resolve().parents[1]


def key(seed: int, kind: str = "whatif") -> CacheKey:
    return CacheKey(kind, "testbed", "ab" * 32, "no_plot", 100, seed, True)


def test_round_trip_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = ResultStore(path)
    files = {"report.md": ("text/markdown", b"# hi"), "chart.png": ("image/png", b"\x89PNG")}
    store.put(key(1), json.dumps({"a": 1}), files)
    again = ResultStore(path)  # a restarted server
    assert again.get(key(1)) == '{"a": 1}'
    assert again.files(key(1).digest) == ["chart.png", "report.md"]
    stored = again.file(key(1).digest, "report.md")
    assert stored is not None and stored.data == b"# hi" and stored.media_type == "text/markdown"
    assert again.get(key(2)) is None
    assert again.file(key(1).digest, "nope") is None
    with again._transaction() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.integrity() == "ok"


def test_every_part_of_the_key_counts() -> None:
    base = CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 100, 1, True)
    variants = [
        CacheKey("history", "testbed", "ab" * 32, "no_plot", 100, 1, True),
        CacheKey("whatif", "testbed", "cd" * 32, "no_plot", 100, 1, True),
        CacheKey("whatif", "testbed", "ab" * 32, "no plot", 100, 1, True),
        CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 101, 1, True),
        CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 100, 2, True),
        CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 100, 1, False),
        CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 100, 1, True, "timeline=3"),
    ]
    assert len({base.digest, *(v.digest for v in variants)}) == 1 + len(variants)


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store.sqlite3")
    store.put(key(1), '{"kept": true}')
    bad = {"report.md": ("text/markdown", b"ok"), "broken": ("text/plain", "not bytes")}
    with pytest.raises(TypeError):
        store.put(key(2), '{"half": true}', bad)  # type: ignore[arg-type]
    assert store.get(key(2)) is None
    assert store.files(key(2).digest) == []
    with pytest.raises(ValueError):
        store.put(key(3), "not json")
    assert store.get(key(1)) == '{"kept": true}'
    assert store.count() == 1 and store.integrity() == "ok"


def test_an_unreadable_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = ResultStore(path)
    store.put(key(1), "{}")
    assert store.get(key(1)) == "{}"
    assert any(p.name.startswith("store.sqlite3.damaged-") for p in tmp_path.iterdir())


WRITER = """
import json, sys
from kremlinology.web.store import CacheKey, ResultStore
store = ResultStore(sys.argv[1])
blob = bytes(200_000)
seed = 0
while True:
    seed += 1
    key = CacheKey("whatif", "testbed", "ab" * 32, "no_plot", 100, seed, True)
    files = {f"f{i}": ("application/octet-stream", blob) for i in range(5)}
    store.put(key, json.dumps({"seed": seed}), files)
    print(seed, flush=True)
"""


def test_killing_a_writer_mid_transaction_corrupts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    ResultStore(path).put(key(0), '{"before": true}')
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert writer.stdout is not None
    try:
        for _ in range(5):  # let it commit a few results, then kill it while it writes more
            assert writer.stdout.readline()
        time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    store = ResultStore(path)
    assert store.integrity() == "ok"
    assert store.get(key(0)) == '{"before": true}'
    seeds = [json.loads(store.get(key(s)) or "null") for s in range(1, store.count())]
    for number, payload in enumerate(seeds, start=1):
        assert payload == {"seed": number}  # every stored result is whole, with all its files
        assert len(store.files(key(number).digest)) == 5


def test_files_are_attached_to_a_stored_result_only(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite3")
    store.put(key(5), json.dumps({"a": 5}), {"result.json": ("application/json", b"{}")})
    assert not store.attach(key(6).digest, {"report.md": ("text/markdown", b"# no")})
    assert store.files(key(6).digest) == []
    assert store.attach(key(5).digest, {"report.md": ("text/markdown", b"# yes")})
    assert store.files(key(5).digest) == ["report.md", "result.json"]
    assert store.key(key(5).digest) == key(5) and store.key(key(6).digest) is None
    with pytest.raises(TypeError):
        store.attach(key(5).digest, {"x": ("text/plain", "not bytes")})  # type: ignore[dict-item]

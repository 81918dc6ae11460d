"""The web explorer's result cache: an SQLite file that survives restarts.

A result is addressed by its key, a digest of (kind, scenario sha256, query, runs, seed, condition,
extra). The file runs in WAL mode with full synchronisation, and every write is one transaction
(the result row and its files together), so a crash at any moment leaves either the whole result
or none of it, and never a damaged file. Each operation opens its own connection, so any thread
may use the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    scenario TEXT NOT NULL,
    scenario_sha256 TEXT NOT NULL,
    query TEXT NOT NULL,
    runs INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    condition INTEGER NOT NULL,
    extra TEXT NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    key TEXT NOT NULL REFERENCES results(key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (key, name)
);
"""


def default_store_path() -> Path:
    """``$XDG_CACHE_HOME/kremlinology/web.sqlite3``, by default under ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kremlinology" / "web.sqlite3"


@dataclass(frozen=True)
class CacheKey:
    """What a cached result depends on; ``digest`` is its primary key in the store."""

    kind: str  # "whatif", "history" or "chronicle"
    scenario: str
    scenario_sha256: str
    query: str = ""
    runs: int = 0
    seed: int = 0
    condition: bool = True
    extra: str = ""

    @property
    def digest(self) -> str:
        """The key as a sha256 hex digest (every part counts)."""
        parts = [
            self.kind,
            self.scenario_sha256,
            self.query,
            self.runs,
            self.seed,
            self.condition,
            self.extra,
        ]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    name: str
    media_type: str
    data: bytes


class ResultStore:
    """A key-value store of JSON results with attached files (reports, charts)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        try:
            self._initialise()
        except sqlite3.DatabaseError as error:
            # Not an SQLite file at all (or damaged beyond reading): keep it aside, start afresh.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.warning("result store %s is unreadable (%s); moved to %s", self.path, error, aside)
            for suffix in ("", "-wal", "-shm"):
                extra = Path(str(self.path) + suffix)
                if extra.exists():
                    extra.rename(Path(str(aside) + suffix))
            self._initialise()

    def _initialise(self) -> None:
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            check = conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def put(
        self, key: CacheKey, payload: str, files: Mapping[str, tuple[str, bytes]] | None = None
    ) -> None:
        """Store a result (JSON text) and its files {name: (media type, bytes)} atomically."""
        json.loads(payload)  # refuse to store anything that is not JSON
        with self._transaction() as conn:
            conn.execute("DELETE FROM files WHERE key = ?", (key.digest,))
            conn.execute(
                "INSERT OR REPLACE INTO results (key, kind, scenario, scenario_sha256, query, runs,"
                " seed, condition, extra, created, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key.digest,
                    key.kind,
                    key.scenario,
                    key.scenario_sha256,
                    key.query,
                    key.runs,
                    key.seed,
                    int(key.condition),
                    key.extra,
                    time.time(),
                    payload,
                ),
            )
            for name, (media_type, data) in (files or {}).items():
                if not isinstance(data, bytes):
                    raise TypeError(f"file {name!r} must be bytes")
                conn.execute(
                    "INSERT INTO files (key, name, media_type, data) VALUES (?,?,?,?)",
                    (key.digest, name, media_type, data),
                )

    def attach(self, digest: str, files: Mapping[str, tuple[str, bytes]]) -> bool:
        """Add files to a stored result in one transaction (a file of the same name is
        replaced); False, with nothing written, when the result is not stored."""
        for name, (_media_type, data) in files.items():
            if not isinstance(data, bytes):
                raise TypeError(f"file {name!r} must be bytes")
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM results WHERE key = ?", (digest,)).fetchone() is None:
                return False
            for name, (media_type, data) in files.items():
                conn.execute(
                    "INSERT OR REPLACE INTO files (key, name, media_type, data) VALUES (?,?,?,?)",
                    (digest, name, media_type, data),
                )
        return True

    def key(self, digest: str) -> CacheKey | None:
        """The key a stored result was stored under, or None when it is not stored."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT kind, scenario, scenario_sha256, query, runs, seed, condition, extra"
                " FROM results WHERE key = ?",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        kind, scenario, sha, query, runs, seed, condition, extra = row
        return CacheKey(
            str(kind),
            str(scenario),
            str(sha),
            str(query),
            int(runs),
            int(seed),
            bool(condition),
            str(extra),
        )

    def get(self, key: CacheKey | str) -> str | None:
        """Return the stored JSON text of a result, or None."""
        digest = key if isinstance(key, str) else key.digest
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT payload FROM results WHERE key = ?", (digest,)).fetchone()
        return None if row is None else str(row[0])

    def file(self, digest: str, name: str) -> StoredFile | None:
        """Return one file attached to a result, or None."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT media_type, data FROM files WHERE key = ? AND name = ?", (digest, name)
            ).fetchone()
        return None if row is None else StoredFile(name, str(row[0]), bytes(row[1]))

    def files(self, digest: str) -> list[str]:
        """Return the names of the files attached to a result."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT name FROM files WHERE key = ? ORDER BY name", (digest,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def count(self) -> int:
        """How many answers are stored."""
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def integrity(self) -> str:
        """Return SQLite's ``integrity_check`` answer ("ok" when the file is sound)."""
        with closing(self._connect()) as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

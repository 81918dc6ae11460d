"""A cache of compiled scenarios, so that start-up does not re-parse unchanged YAML.

The key hashes the folder's resolved path, every file in it, and the source of the package's
scenario compiler, so any change to the scenario or to the code that compiles it misses the cache.
Entries are written atomically in the user's cache directory; ``KREMLINOLOGY_NO_CACHE=1`` turns the
cache off. Only successful loads are cached: errors are always recomputed and reported.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

from kremlinology.scenario.files import fingerprint
from kremlinology.scenario.model import Scenario
from kremlinology.version import __version__


def cache_dir() -> Path:
    """``$KREMLINOLOGY_CACHE_DIR``, else ``$XDG_CACHE_HOME/kremlinology``, else ~/.cache/..."""
    explicit = os.environ.get("KREMLINOLOGY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kremlinology" / "scenarios"


def cache_key(folder: Path) -> str:
    """A digest of what a compiled scenario depends on: package version, folder path, every
    file in the folder and the scenario package's own code."""
    digest = hashlib.sha256(f"{__version__}\0{folder.resolve()}\0".encode())
    digest.update(fingerprint(folder).encode())  # safe: no FIFO, device or link out is read
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def cached(folder: Path, load: Callable[[Path], Scenario]) -> Scenario:
    """Return the compiled scenario of ``folder`` from the cache, or load it and store it."""
    if os.environ.get("KREMLINOLOGY_NO_CACHE") == "1" or _small(folder):
        return load(folder)
    key = cache_key(folder)
    entry = cache_dir() / f"{key}.pickle"
    try:
        with entry.open("rb") as handle:
            scenario = pickle.load(handle)
        if isinstance(scenario, Scenario):
            return scenario
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    scenario = load(folder)
    _store(entry, scenario)
    return scenario


MIN_BYTES = 64_000
"""Smaller scenarios load fast enough: caching them would only fill the cache directory."""


def _small(folder: Path) -> bool:
    total = 0
    try:
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    except OSError:
        return True  # the loader will report what is wrong with the folder
    return total < MIN_BYTES


def _store(entry: Path, scenario: Scenario) -> None:
    """Write an entry atomically; a cache that cannot be written is simply not used."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(scenario, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
    except OSError:
        return

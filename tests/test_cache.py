"""The compiled-scenario cache: hits equal the first load, edits miss, errors never stick."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import kremlinology as k
from kremlinology.scenario.errors import ScenarioError

THAW = Path(__file__).resolve().parents[1] / "src" / "kremlinology" / "scenarios" / "thaw"


@pytest.fixture
def private_cache(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KREMLINOLOGY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KREMLINOLOGY_NO_CACHE", raising=False)
    return tmp_path / "cache"


def test_second_load_comes_from_the_cache_and_equals_the_first(tmp_path, private_cache) -> None:  # type: ignore[no-untyped-def]
    folder = shutil.copytree(THAW, tmp_path / "thaw")
    first = k.load_scenario(folder)
    assert len(list(private_cache.glob("*.pickle"))) == 1
    second = k.load_scenario(folder)
    assert second.sha256 == first.sha256
    assert [e.id for e in second.events] == [e.id for e in first.events]
    assert second.events[3] == first.events[3]


def test_an_edit_misses_the_cache_and_errors_are_reported(tmp_path, private_cache) -> None:  # type: ignore[no-untyped-def]
    folder = shutil.copytree(THAW, tmp_path / "thaw")
    before = k.load_scenario(folder)
    manifest = folder / "scenario.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 9.9.9"))
    assert k.load_scenario(folder).version == "9.9.9"
    outcomes = folder / "outcomes.yaml"
    outcomes.write_text(
        outcomes.read_text() + "\n  - {id: broken, label: x, expr: 'nobody.alive'}\n"
    )
    with pytest.raises(ScenarioError, match=re.escape("unknown name 'nobody.alive'")):
        k.load_scenario(folder)
    with pytest.raises(ScenarioError):
        k.load_scenario(folder)
    assert before.version == "1.0.0"

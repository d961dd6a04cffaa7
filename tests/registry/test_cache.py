"""The manifest cache never serves what another process changed."""

from __future__ import annotations

from pathlib import Path

from cargobay.registry.cache import FileGeneration, GenerationCache


def test_a_bump_in_another_process_view_empties_the_cache(tmp_path: Path) -> None:
    mine = GenerationCache[str, int](FileGeneration(tmp_path / "gen"))
    theirs = FileGeneration(tmp_path / "gen")  # another worker's mapping of the same file
    mine.put("k", 1, mine.snapshot())
    assert mine.get("k") == 1
    theirs.bump()
    assert mine.get("k") is None


def test_a_value_read_before_a_write_is_not_cached(tmp_path: Path) -> None:
    cache = GenerationCache[str, int](FileGeneration(tmp_path / "gen"))
    snapshot = cache.snapshot()
    cache.invalidate()  # a write commits while the value was being read
    cache.put("k", 1, snapshot)
    assert cache.get("k") is None


def test_without_a_generation_nothing_is_cached() -> None:
    cache = GenerationCache[str, int](None)
    cache.put("k", 1, cache.snapshot())
    assert cache.get("k") is None

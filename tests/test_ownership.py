"""buildcache/cache/ownership.py: only a marked (or new, or empty) directory is ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildcache.cache.ownership import TAG_NAME, NotOurs, claim, is_marked, refusal


def test_a_missing_dir_is_created_and_marked(tmp_path: Path) -> None:
    cache = tmp_path / "new" / "cache"
    claim(str(cache))
    assert is_marked(str(cache)) and (cache / TAG_NAME).read_text().startswith("Signature:")


def test_an_empty_dir_is_adopted(tmp_path: Path) -> None:
    claim(str(tmp_path))
    assert is_marked(str(tmp_path))


def test_a_dir_with_user_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / ("cd" * 32 + ".entry")).write_text("mine")
    (tmp_path / "notes.txt").write_text("mine too")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(NotOurs, match="not buildcache's"):
        claim(str(tmp_path))
    assert refusal(str(tmp_path)) is not None
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_cache_of_an_earlier_version_is_adopted(tmp_path: Path) -> None:
    for name in ("0", "f", "rustc", "crates"):
        (tmp_path / name).mkdir()
    assert refusal(str(tmp_path)) is None
    claim(str(tmp_path))
    assert is_marked(str(tmp_path))


def test_a_file_is_not_a_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotOurs):
        claim(str(blocker))
    assert refusal(str(blocker)) is not None

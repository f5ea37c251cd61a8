"""buildcache/cache/atomic.py: a file is replaced whole or not at all, and a restore's
replacement never renames over an existing file (which ext4 and btrfs flush first)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.cache import atomic
from buildcache.cache.store import Entry
from buildcache.wrapper.hit import restore
from buildcache.wrapper.rustc_args import parse_rustc_args


def renames_over_a_file(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each rename atomic.py makes from now on: was something at its destination?"""
    seen: list[bool] = []
    real_replace = os.replace

    def replace(source: str, destination: str) -> None:
        seen.append(os.path.lexists(destination))
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", replace)
    return seen


def test_a_non_durable_write_removes_the_old_file_before_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "libfoo.rlib"
    target.write_bytes(b"old")
    seen = renames_over_a_file(monkeypatch)
    written = atomic.atomic_write(str(target), b"new", mode=0o755, durable=False)
    assert seen == [False]
    assert target.read_bytes() == b"new"
    assert (target.stat().st_ino, target.stat().st_mode & 0o777) == (written.st_ino, 0o755)


def test_a_durable_write_renames_over_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache's own files: a reader sees the old one or the new one, never none."""
    target = tmp_path / "counts"
    target.write_bytes(b"old")
    seen = renames_over_a_file(monkeypatch)
    atomic.atomic_write(str(target), b"new")
    assert seen == [True]
    assert target.read_bytes() == b"new"


def test_chunks_and_views_are_written_whole(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)
    chunks: list[bytes | memoryview] = [b"head", memoryview(big)[1:], b"", b"tail"]
    target = tmp_path / "entry"
    written = atomic.atomic_write(str(target), chunks)
    assert target.read_bytes() == b"head" + big[1:] + b"tail"
    assert written.st_size == len(b"head" + big[1:] + b"tail")


@pytest.mark.parametrize("durable", [True, False])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    target = tmp_path / "libfoo.rlib"
    target.write_bytes(b"old")

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic.atomic_write(str(target), b"new", durable=durable)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["libfoo.rlib"]


def test_a_directory_in_the_way_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "libfoo.rlib"
    target.mkdir()
    (target / "inside").write_bytes(b"someone's")
    with pytest.raises(OSError):
        atomic.atomic_write(str(target), b"new", durable=False)
    assert (target / "inside").read_bytes() == b"someone's"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["libfoo.rlib"]


def test_a_hit_restores_over_the_old_outputs_without_renaming_over_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild after a branch switch restores into a target dir that holds the outputs
    of the other branch: 2.5 to 4 ms a file under load when renamed over (atomic.py)."""
    out = tmp_path / "out"
    out.mkdir()
    call = parse_rustc_args(
        ["--crate-name", "foo", "lib.rs", "--crate-type", "lib", "--emit=dep-info,metadata,link",
         "-C", "extra-filename=-0123", "--out-dir", str(out)]
    )  # fmt: skip
    names = call.output_names()
    for name in names:
        (out / name).write_bytes(b"the other branch's")
    entry = Entry([(name, 0o644, f"restored {name}".encode()) for name in names], b"", b"")
    seen = renames_over_a_file(monkeypatch)
    restore(entry, call, str(tmp_path / "cache"))
    assert len(seen) >= len(names) and not any(seen)
    for name in names:
        assert (out / name).read_bytes() == f"restored {name}".encode()


def test_a_restore_leaves_a_device_or_fifo_in_its_place(tmp_path: Path) -> None:
    """`-MF /dev/null`, restored as root, must not put a regular file where the device
    was (the C path refuses such names too: c_family/arguments.py)."""
    fifo = tmp_path / "deps.d"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        atomic.atomic_write(str(fifo), b"x.o: x.c\n", durable=False)
    assert fifo.is_fifo()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["deps.d"]


def test_a_restore_replaces_a_symlink_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not ours")
    link = tmp_path / "libfoo.rlib"
    link.symlink_to(target)
    atomic.atomic_write(str(link), b"restored", durable=False)
    assert not link.is_symlink() and link.read_bytes() == b"restored"
    assert target.read_bytes() == b"not ours"

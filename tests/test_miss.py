"""Which outputs a miss's store may read after the wrapper returned (held open, not
copied while cargo waits): only those cargo never links elsewhere nor touches; and
what the store of a held output puts in the entry: the bytes it hashed."""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

import pytest

from buildcache.cache import store
from buildcache.cache.digests import sha256
from buildcache.config import load_config
from buildcache.wrapper import miss
from buildcache.wrapper.miss import cargo_leaves_alone, snapshot_outputs
from buildcache.wrapper.rustc_args import parse_rustc_args

UNDER_CARGO = {"CARGO": "/usr/bin/cargo"}
BASE_KEY = "cd" * 32


def call_of(*extra: str, out_dir: str = "/ws/target/debug/deps"):  # type: ignore[no-untyped-def]
    return parse_rustc_args(
        [
            "--crate-name", "dep", "--edition=2021", "src/lib.rs",
            "--error-format=json", "--out-dir", out_dir,
            "-C", "extra-filename=-abc", *extra,
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    "crate_types", [["lib"], ["rlib"], ["proc-macro"], ["cdylib"], ["staticlib"], ["lib", "cdylib"]]
)
def test_a_dependencys_library_is_held(crate_types: list[str]) -> None:
    flags = [flag for kind in crate_types for flag in ("--crate-type", kind)]
    call = call_of(*flags, "--emit=dep-info,metadata,link")
    assert cargo_leaves_alone(call, UNDER_CARGO)


@pytest.mark.parametrize(
    ("flags", "environ", "why"),
    [
        (["--crate-type", "bin"], UNDER_CARGO, "cargo links binaries into the profile dir"),
        (["--crate-type", "dylib"], UNDER_CARGO, "cargo links dylibs, whoever's"),
        (["--crate-type", "lib", "--crate-type", "bin"], UNDER_CARGO, "one of them a binary"),
        (["--crate-type", "lib"], {**UNDER_CARGO, "CARGO_PRIMARY_PACKAGE": "1"}, "a root's?"),
        (["--test"], UNDER_CARGO, "a test harness"),
        (["--crate-type", "lib"], {}, "not cargo: what it does with the outputs is unknown"),
    ],
)
def test_what_cargo_may_link_or_touch_is_copied(
    flags: list[str], environ: dict[str, str], why: str
) -> None:
    call = call_of(*flags, "--emit=dep-info,metadata,link")
    assert not cargo_leaves_alone(call, environ), why


def test_a_checks_rmeta_is_copied() -> None:
    """cargo (1.93 on) sets the mtime of a check's .rmeta after rustc exits."""
    call = call_of("--crate-type", "lib", "--emit=dep-info,metadata")
    assert not cargo_leaves_alone(call, UNDER_CARGO)


@pytest.mark.parametrize("level", [0, 1])
def test_an_entry_holds_the_bytes_its_digests_were_computed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: int
) -> None:
    """A writer whose stores move no timestamp can change a held output between its hash
    and its compression: a shared writable mapping whose page is already dirty (no fault,
    so no mtime update, on any kernel), or on kernels before 6.13 any write in the clock
    tick of the last one. The stamp cannot see it, so the store must not read the file
    twice: it reads it once, into memory, and hashes and compresses that copy. (A mapping
    of the held file, tried for its fewer page faults, stored blobs that did not match
    their recorded digests here.)"""
    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    out.mkdir()
    call = call_of("--crate-type", "lib", "--emit=dep-info,metadata,link", out_dir=str(out))
    rlib = out / "libdep-abc.rlib"
    rlib.write_bytes(b"R" * 8192)
    (out / "libdep-abc.rmeta").write_bytes(b"meta" * 100)
    (out / "dep-abc.d").write_text("")
    writer_fd = os.open(rlib, os.O_RDWR)
    writer = mmap.mmap(writer_fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    writer[0:1] = b"R"  # the page is dirty from now on: later stores fault no more
    time.sleep(0.05)  # past the coarse clock tick file times come from
    monkeypatch.setenv("BUILDCACHE_DIR", str(cache))
    monkeypatch.setenv("BUILDCACHE_COMPRESSION_LEVEL", str(level))
    config = load_config()
    snapshot = snapshot_outputs(call, str(cache), BASE_KEY, UNDER_CARGO)
    assert snapshot is not None and "libdep-abc.rlib" in snapshot.held
    real_make_entry = miss.make_entry

    def make_entry_then_write(*args: object, **kwargs: object) -> object:
        writer[0:4] = b"EVIL"  # after the hash, before the compression
        return real_make_entry(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(miss, "make_entry", make_entry_then_write)
    try:
        key, _ = miss.store_result(config, call, {}, BASE_KEY, miss.Described([], [], ""),
                                   b"", b"", compile_ms=1, snapshot=snapshot)  # fmt: skip
    finally:
        snapshot.discard()
        writer.close()
        os.close(writer_fd)
    entry = store.load_entry(str(cache), key)
    assert entry is not None
    checked = 0
    for name, _, data in entry.outputs:
        if name in entry.digests:
            assert entry.digests[name] == sha256(bytes(data)).hexdigest(), name
            checked += 1
    assert checked == 2  # the rlib and the rmeta

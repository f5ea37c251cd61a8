"""Which outputs a miss's store may read after the wrapper returned (held open, not
copied while cargo waits): only those cargo never links elsewhere nor touches; and
the store of held outputs commits nothing when one changed after it was hashed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from buildcache.config import load_config
from buildcache.wrapper import miss
from buildcache.wrapper.miss import cargo_leaves_alone, snapshot_outputs
from buildcache.wrapper.rustc_args import parse_rustc_args

UNDER_CARGO = {"CARGO": "/usr/bin/cargo"}
BASE_KEY = "cd" * 32


def call_of(*extra: str):  # type: ignore[no-untyped-def]
    return parse_rustc_args(
        [
            "--crate-name", "dep", "--edition=2021", "src/lib.rs",
            "--error-format=json", "--out-dir", "/ws/target/debug/deps",
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


def library_call(out_dir: Path):  # type: ignore[no-untyped-def]
    return parse_rustc_args(
        [
            "--crate-name", "dep", "--edition=2021", "src/lib.rs", "--crate-type", "lib",
            "--emit=dep-info,metadata,link", "--error-format=json", "--out-dir", str(out_dir),
            "-C", "extra-filename=-abc",
        ]
    )  # fmt: skip


@pytest.mark.parametrize("written_after_the_hash", [False, True])
def test_a_held_output_written_before_the_commit_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_after_the_hash: bool
) -> None:
    """The store hashes and compresses a dependency's outputs from mappings of the files
    themselves (detached_store.py): a write in place between the hash and the commit
    would put other bytes in the entry than the digests it records, so the entry is
    committed only if every held output still has its stamp."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    out.mkdir()
    call = library_call(out)
    (out / "libdep-abc.rlib").write_bytes(b"rlib as rustc wrote it")
    (out / "libdep-abc.rmeta").write_bytes(b"rmeta as rustc wrote it")
    (out / "dep-abc.d").write_text("")
    monkeypatch.setenv("BUILDCACHE_DIR", str(cache))
    config = load_config()
    snapshot = snapshot_outputs(call, str(cache), BASE_KEY, UNDER_CARGO)
    assert snapshot is not None and sorted(snapshot.held) == ["libdep-abc.rlib", "libdep-abc.rmeta"]
    real_make_entry = miss.make_entry

    def make_entry_then_write(*args: object, **kwargs: object) -> object:
        if written_after_the_hash:
            time.sleep(0.05)  # past the coarse clock tick file times come from
            with open(out / "libdep-abc.rlib", "r+b") as handle:
                handle.write(b"RLIB")  # same size, in place: the mapping shows it
        return real_make_entry(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(miss, "make_entry", make_entry_then_write)
    described = miss.Described([], [], "")
    try:
        if written_after_the_hash:
            with pytest.raises(miss.NotStorable, match="changed after rustc wrote it"):
                miss.store_result(config, call, {}, BASE_KEY, described, b"", b"",
                                  compile_ms=1, snapshot=snapshot)  # fmt: skip
        else:
            miss.store_result(config, call, {}, BASE_KEY, described, b"", b"",
                              compile_ms=1, snapshot=snapshot)  # fmt: skip
    finally:
        snapshot.discard()
    entries = [name for _, _, names in os.walk(cache) for name in names if name.endswith(".entry")]
    assert len(entries) == (0 if written_after_the_hash else 1)
    temps = [name for _, _, names in os.walk(cache) for name in names if name.startswith(".tmp-")]
    assert temps == []

"""Which compiler is this (buildcache/wrapper/rustc_identity.py): the record that spares
each call `rustc -vV` must stop holding whenever another compiler would run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from buildcache.cache import file_digests
from buildcache.wrapper import rustc_identity as identity_module
from buildcache.wrapper.rustc_identity import rustc_identity


def settled(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    time.sleep(file_digests.RECENT_SECONDS + 0.05)  # a record needs a settled ctime
    return path


def fake_toolchain(root: Path, driver: bytes = b"driver one") -> tuple[str, Path]:
    """A `rustc` that, like the real one, finds its sysroot from where it is, and a
    sysroot with a driver library."""
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    library = settled(root / "lib" / "librustc_driver-1.so", driver * 100)
    rustc = root / "bin" / "rustc"
    rustc.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --print ]; then dirname "$(dirname "$(readlink -f "$0")")"; '
        'else echo "rustc 9.9.9 (fake)"; fi\n'
    )
    rustc.chmod(0o755)
    settled(rustc, rustc.read_bytes())
    return str(rustc), library


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The compilers asked `-vV`, in order; and a private runtime dir for the records."""
    (tmp_path / "run").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for name in ("LD_LIBRARY_PATH", "LD_PRELOAD", "LD_AUDIT"):
        monkeypatch.delenv(name, raising=False)
    asked: list[str] = []
    real = identity_module._query
    monkeypatch.setattr(identity_module, "_query", lambda r: asked.append(r) or real(r))
    (tmp_path / "cache").mkdir()
    return asked


def test_the_record_spares_the_query(tmp_path: Path, queries: list[str]) -> None:
    rustc, _ = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    assert rustc_identity(cache, rustc) == rustc_identity(cache, rustc)
    assert queries == [rustc]


def test_a_driver_from_ld_library_path_is_another_compiler(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """LD_LIBRARY_PATH comes before rustc's RUNPATH: a dir holding a library of the
    driver's name runs another compiler (which even reports another sysroot)."""
    rustc, library = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    plain = rustc_identity(cache, rustc)
    other = tmp_path / "other" / "lib"
    other.mkdir(parents=True)
    settled(other / library.name, b"a patched driver" * 100)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(other))
    patched = rustc_identity(cache, rustc)
    assert patched != plain
    settled(other / library.name, b"patched again" * 100)  # rebuilt in place
    assert rustc_identity(cache, rustc) not in (plain, patched)
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert rustc_identity(cache, rustc) == plain
    assert len(queries) == 4


def test_the_toolchains_own_lib_dir_on_ld_library_path_changes_nothing(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cargo runs rustc with the toolchain's lib dir (and the target's deps dir) there."""
    rustc, library = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    plain = rustc_identity(cache, rustc)
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{tmp_path}/target/debug/deps:{library.parent}")
    assert rustc_identity(cache, rustc) == plain
    assert len(queries) == 1


def test_a_preloaded_library_is_part_of_the_compiler(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rustc, _ = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    plain = rustc_identity(cache, rustc)
    preload = settled(tmp_path / "libhook.so", b"hook one" * 100)
    monkeypatch.setenv("LD_PRELOAD", str(preload))
    hooked = rustc_identity(cache, rustc)
    settled(preload, b"hook two" * 100)
    assert len({plain, hooked, rustc_identity(cache, rustc)}) == 3


def test_a_toolchain_swapped_behind_a_symlink_is_another_compiler(
    tmp_path: Path, queries: list[str]
) -> None:
    """Two toolchains whose launchers are one inode (hard-linked by a dedup tool), the
    one in use chosen by a symlink: the launcher's stamp alone cannot tell them apart."""
    first, _ = fake_toolchain(tmp_path / "one", driver=b"driver one")
    (tmp_path / "two" / "bin").mkdir(parents=True)
    (tmp_path / "two" / "lib").mkdir()
    settled(tmp_path / "two" / "lib" / "librustc_driver-1.so", b"driver two" * 100)
    os.link(first, tmp_path / "two" / "bin" / "rustc")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "one")
    cache = str(tmp_path / "cache")
    one = rustc_identity(cache, str(current / "bin" / "rustc"))
    current.unlink()
    current.symlink_to(tmp_path / "two")
    assert rustc_identity(cache, str(current / "bin" / "rustc")) != one

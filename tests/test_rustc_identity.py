"""Which compiler is this (buildcache/wrapper/rustc_identity.py): the record that spares
each call `rustc -vV` must stop holding whenever another compiler would run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from buildcache.cache import file_digests
from buildcache.wrapper import rustc_identity as identity_module
from buildcache.wrapper.rustc_identity import rustc_identity

LAUNCHER = r"""
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
const char *driver_version(void);
int main(int argc, char **argv) {
    char self[PATH_MAX];
    if (argc > 2 && strcmp(argv[1], "--print") == 0 && realpath("/proc/self/exe", self)) {
        printf("%s\n", dirname(dirname(self)));  /* the sysroot: where the launcher is */
        return 0;
    }
    printf("rustc 9.9.9 (fake %s)\n", driver_version());
    return 0;
}
"""


def fake_toolchain(root: Path, driver: str = "one") -> tuple[str, Path]:
    """A toolchain laid out as rustup's: an ELF `bin/rustc` launcher that, like the real
    one, finds its driver library through RUNPATH `$ORIGIN/../lib` and its sysroot from
    where it is; `lib/librustc_driver-1.so` says which driver it is."""
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    library = build_driver(root / "lib", driver)
    source = root / "launcher.c"
    source.write_text(LAUNCHER)
    rustc = root / "bin" / "rustc"
    subprocess.run(
        ["gcc", "-o", str(rustc), str(source), f"-L{root / 'lib'}", "-l:librustc_driver-1.so",
         "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
        check=True,
    )  # fmt: skip
    source.unlink()
    time.sleep(file_digests.RECENT_SECONDS + 0.05)  # a record needs a settled ctime
    return str(rustc), library


def build_driver(directory: Path, driver: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "driver.c"
    source.write_text(f'const char *driver_version(void) {{ return "{driver}"; }}\n')
    library = directory / "librustc_driver-1.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    source.unlink()
    time.sleep(file_digests.RECENT_SECONDS + 0.05)
    return library


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


@pytest.mark.parametrize("where", ["", "glibc-hwcaps/x86-64-v2", "tls"])
def test_a_driver_from_ld_library_path_is_another_compiler(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """LD_LIBRARY_PATH comes before rustc's RUNPATH, and in each of its dirs the loader
    looks in subdirs for the CPU first: a driver there runs another compiler, which
    reports another sysroot (or the same, for an identical copy)."""
    rustc, _ = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    plain = rustc_identity(cache, rustc)
    other = tmp_path / "other"
    library = build_driver(other / where, "patched")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(other))
    patched = rustc_identity(cache, rustc)
    assert patched != plain
    build_driver(other / where, "patched again")  # rebuilt in place, same name
    assert library.exists() and rustc_identity(cache, rustc) not in (plain, patched)
    assert len(queries) == 3  # found afresh each time: no record while it is there
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert rustc_identity(cache, rustc) == plain
    assert len(queries) == 3  # the record of the plain compiler holds again


def test_no_record_is_made_while_another_driver_is_taken(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found first with another driver in LD_LIBRARY_PATH: what is found then must not
    be served once the variable is gone."""
    rustc, _ = fake_toolchain(tmp_path / "toolchain")
    build_driver(tmp_path / "other", "patched")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path / "other"))
    patched = rustc_identity(str(tmp_path / "cache"), rustc)
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert rustc_identity(str(tmp_path / "cache"), rustc) != patched


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
    preload = tmp_path / "libhook.so"
    shutil.copyfile(libm_path(), preload)  # a real library, so that it loads
    monkeypatch.setenv("LD_PRELOAD", str(preload))
    hooked = rustc_identity(cache, rustc)
    with preload.open("ab") as handle:
        handle.write(b"changed")
    assert len({plain, hooked, rustc_identity(cache, rustc)}) == 3
    assert len(queries) == 3  # no record while something is preloaded


def libm_path() -> str:
    for directory in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib"):
        candidate = os.path.join(directory, "libm.so.6")
        if os.path.isfile(candidate):
            return candidate
    pytest.skip("no libm.so.6 where this test looks")


def test_a_toolchain_swapped_behind_a_symlink_is_another_compiler(
    tmp_path: Path, queries: list[str]
) -> None:
    """Two toolchains whose launchers are one inode (hard-linked by a dedup tool), the
    one in use chosen by a symlink: the launcher's stamp alone cannot tell them apart."""
    first, _ = fake_toolchain(tmp_path / "one", driver="one")
    (tmp_path / "two" / "bin").mkdir(parents=True)
    build_driver(tmp_path / "two" / "lib", "two")
    os.link(first, tmp_path / "two" / "bin" / "rustc")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "one")
    cache = str(tmp_path / "cache")
    one = rustc_identity(cache, str(current / "bin" / "rustc"))
    current.unlink()
    current.symlink_to(tmp_path / "two")
    assert rustc_identity(cache, str(current / "bin" / "rustc")) != one


@pytest.mark.cargo
def test_the_real_compiler_is_remembered_as_cargo_runs_it(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cargo runs rustc with the target's deps dir and the toolchain's lib dir in
    LD_LIBRARY_PATH; the toolchain's lib dir also holds LLVM's linker script."""
    from tests.test_hot_path_imports import real_rustc

    rustc = real_rustc()
    lib = Path(rustc).resolve().parent.parent / "lib"
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{tmp_path}/target/debug/deps:{lib}")
    cache = str(tmp_path / "cache")
    assert rustc_identity(cache, rustc) == rustc_identity(cache, rustc)
    assert len(queries) == 1


@pytest.mark.parametrize("subdir", ["x86_64", "tls", "glibc-hwcaps/x86-64-v2"])
def test_a_driver_in_a_cpu_subdir_of_the_toolchains_lib_dir_is_another_compiler(
    tmp_path: Path, queries: list[str], subdir: str
) -> None:
    """The loader looks in those subdirs of the RUNPATH's dir before the dir itself."""
    rustc, library = fake_toolchain(tmp_path / "toolchain")
    cache = str(tmp_path / "cache")
    plain = rustc_identity(cache, rustc)
    build_driver(library.parent / subdir, "patched")
    assert rustc_identity(cache, rustc) != plain


def test_a_driver_found_only_through_ld_library_path_is_never_remembered(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The toolchain's lib dir lacks the name the launcher asks for; LD_LIBRARY_PATH
    offers it, first as a link to the toolchain's own driver, then as another one."""
    rustc, library = fake_toolchain(tmp_path / "toolchain")
    renamed = library.with_name("librustc_driver-2.so")
    library.rename(renamed)
    other = tmp_path / "other"
    other.mkdir()
    (other / library.name).symlink_to(renamed)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(other))
    cache = str(tmp_path / "cache")
    linked = rustc_identity(cache, rustc)
    (other / library.name).unlink()
    build_driver(other, "patched")
    assert rustc_identity(cache, rustc) != linked


def test_where_the_loader_cannot_say_what_it_runs_the_call_is_not_cached(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launcher that is a script: the loader lists its interpreter's libraries, not
    the compiler's; with another driver on offer, nothing can tell which one runs."""
    _, library = fake_toolchain(tmp_path / "toolchain")
    script = tmp_path / "toolchain" / "bin" / "rustc-script"
    script.write_text(f'#!/bin/sh\nexec {tmp_path / "toolchain" / "bin" / "rustc"} "$@"\n')
    script.chmod(0o755)
    build_driver(tmp_path / "other", "patched")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path / "other"))
    with pytest.raises(OSError, match="cannot tell which compiler"):
        rustc_identity(str(tmp_path / "cache"), str(script))


def test_a_launcher_that_picks_its_toolchain_when_it_runs_is_never_remembered(
    tmp_path: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script (or a dispatcher such as rustup's proxy under another name) maps no
    driver itself: its stamp says nothing about the toolchain it will run."""
    fake_toolchain(tmp_path / "one", driver="one")
    fake_toolchain(tmp_path / "two", driver="two")
    script = tmp_path / "rustc"
    script.write_text('#!/bin/sh\nexec "$MY_TOOLCHAIN/bin/rustc" "$@"\n')
    script.chmod(0o755)
    cache = str(tmp_path / "cache")
    monkeypatch.setenv("MY_TOOLCHAIN", str(tmp_path / "one"))
    one = rustc_identity(cache, str(script))
    monkeypatch.setenv("MY_TOOLCHAIN", str(tmp_path / "two"))
    assert rustc_identity(cache, str(script)) != one


def test_rustups_proxy_is_known_through_a_link_to_it(tmp_path: Path) -> None:
    proxies = tmp_path / "cargo-bin"
    proxies.mkdir()
    (proxies / "rustup").write_text("#!/bin/sh\n")
    os.link(proxies / "rustup", proxies / "rustc")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rustc").symlink_to(proxies / "rustc")
    assert identity_module._is_rustup_proxy(str(tmp_path / "bin" / "rustc"))

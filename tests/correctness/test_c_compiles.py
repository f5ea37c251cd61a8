"""C and C++ compiles that build scripts send through the wrapper (cc-rs).

cc-rs puts RUSTC_WRAPPER in front of its compiler when the wrapper is named
buildcache, so `-sys` crates call `buildcache cc -c x.c -o x.o`, the compiler often
a bare name. These builds use the real `cc` crate (and libz-sys) from crates.io.
Each test compares the program built through the cache with what an uncached build
prints, and counts the C compiles in `stats --json`'s `c_cxx` section.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from correctness_helpers import (
    C_SOURCE,
    CPP_SOURCE,
    buildcache,
    c_workspace,
    cache_stats,
    cargo,
    clean_env,
    copy_checkout,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo


def online_env(base: Path, cache: Path | None = None) -> dict[str, str]:
    """cc comes from crates.io: the first build of a fresh machine downloads it."""
    return clean_env(base / "home", cache, CARGO_NET_OFFLINE="false")


def test_a_cc_rs_build_through_the_wrapper_succeeds(tmp_path: Path) -> None:
    """cc-rs calls `buildcache cc ...` with a bare compiler name: that is a compile,
    not a mistyped subcommand (this failed every -sys crate's build script)."""
    root = c_workspace(tmp_path / "ws")
    env = online_env(tmp_path, tmp_path / "cache")
    cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
    expected = program_result(root / "target-uncached" / "debug" / "app")
    assert expected == "answer 42 twice 84\n"
    cargo(root, "build", env=env)
    assert program_result(root / "target" / "debug" / "app") == expected


def c_counts(env: dict[str, str]) -> dict[str, int]:
    section = cache_stats(env)["c_cxx"]
    assert isinstance(section, dict)
    return section


def build_and_run(root: Path, env: dict[str, str], *, cached: bool = True) -> str:
    target = "target" if cached else "target-uncached"
    cargo(root, "build", "--target-dir", target, env=env, cached=cached)
    return program_result(root / target / "debug" / "app")


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The workspace built once through a fresh cache."""
    root = c_workspace(tmp_path / "ws")
    env = online_env(tmp_path, tmp_path / "cache")
    assert build_and_run(root, env) == "answer 42 twice 84\n"
    return root, env


def test_a_warm_rebuild_compiles_no_c(built: tuple[Path, dict[str, str]]) -> None:
    root, env = built
    first = c_counts(env)
    assert first["misses"] >= 2 and first["hits"] == 0, first
    shutil.rmtree(root / "target")
    assert build_and_run(root, env) == "answer 42 twice 84\n"
    second = c_counts(env)
    assert second["misses"] == first["misses"], second
    assert second["hits"] == first["misses"], second
    assert first["time_saved_ms"] == 0 < second["time_saved_ms"], second


def test_c_requests_are_counted_apart_from_rustc(built: tuple[Path, dict[str, str]]) -> None:
    _, env = built
    stats = cache_stats(env)
    c_cxx = stats["c_cxx"]
    assert isinstance(c_cxx, dict) and c_cxx["requests"] >= 2
    # Every rustc request ended one way; none of the C compiles is among them.
    rust = stats["hits"] + stats["misses"] + stats["non_cacheable"] + stats["errors"]  # type: ignore[operator]
    assert rust + stats["compile_failed"] == stats["requests"], stats
    assert stats["errors"] == 0 and c_cxx["errors"] == 0, stats


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("native/answer.c", C_SOURCE.replace("BONUS;", "BONUS + 100;"), "answer 142 twice 284\n"),
        ("native/bonus.h", "#define BONUS 7\n", "answer 47 twice 94\n"),
        ("native/twice.cpp", CPP_SOURCE.replace("x * 2", "x * 3"), "answer 42 twice 126\n"),
    ],
)
def test_an_edit_reaches_the_program_and_a_revert_hits(
    built: tuple[Path, dict[str, str]], path: str, text: str, expected: str
) -> None:
    root, env = built
    source = root / "crates" / "app" / path
    original = source.read_text()
    source.write_text(text)
    assert build_and_run(root, env) == expected
    assert build_and_run(root, env, cached=False) == expected
    source.write_text(original)
    before = c_counts(env)
    assert build_and_run(root, env) == "answer 42 twice 84\n"
    assert c_counts(env)["hits"] > before["hits"]


def test_a_define_from_the_build_script_changes_the_program(
    built: tuple[Path, dict[str, str]],
) -> None:
    root, env = built
    assert build_and_run(root, {**env, "ANSWER_BASE": "1000"}) == "answer 1002 twice 2004\n"
    explained = json.loads(buildcache("explain", "--json", "answer.c", env=env, check=True).stdout)
    changes = [(d["kind"], d["name"], d["change"]) for d in explained["misses"][0]["differences"]]
    assert ("argument", "-DANSWER_BASE=1000", "added") in changes, changes
    assert build_and_run(root, env) == "answer 42 twice 84\n"


def test_a_second_checkout_builds_its_own_sources(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = built
    other = copy_checkout(root, tmp_path / "other")
    assert build_and_run(other, env) == "answer 42 twice 84\n"
    (other / "crates" / "app" / "native" / "bonus.h").write_text("#define BONUS 5\n")
    assert build_and_run(other, env) == "answer 45 twice 90\n"
    shutil.rmtree(root / "target")
    assert build_and_run(root, env) == "answer 42 twice 84\n"


# A C compiler that rewrites the header while "compiling" (not while preprocessing),
# keeping its mtime as `cp -p` or `rsync -a` would: the object then holds the new
# header while the key was made from the old one.
SWAPPING_COMPILER = """#!/bin/sh
case " $* " in
  *" -E "*|*" -### "*) ;;
  *" -c "*answer.c*) if [ -n "$SWAP_HEADER" ] && [ -f "$SWAP_HEADER.new" ]; then
      cp -p "$SWAP_HEADER.new" "$SWAP_HEADER"; rm "$SWAP_HEADER.new"; fi ;;
esac
exec cc "$@"
"""


def test_a_header_swapped_during_the_compile_is_not_stored(tmp_path: Path) -> None:
    root = c_workspace(tmp_path / "ws")
    compiler = tmp_path / "bin" / "swapping-cc"
    compiler.parent.mkdir()
    compiler.write_text(SWAPPING_COMPILER)
    compiler.chmod(0o755)
    header = root / "crates" / "app" / "native" / "bonus.h"
    env = online_env(tmp_path, tmp_path / "cache")
    # cc-rs's own wrapper form; it applies RUSTC_WRAPPER only to compilers it picks itself.
    env.update(CC=f"buildcache {compiler}", SWAP_HEADER=str(header))
    old = header.read_bytes()
    (tmp_path / "old.h").write_bytes(old)
    shutil.copystat(header, tmp_path / "old.h")
    new = header.with_name("bonus.h.new")
    new.write_text("#define BONUS 9\n")
    shutil.copystat(header, new)
    assert build_and_run(root, env) == "answer 49 twice 98\n"  # compiled from the new header
    assert c_counts(env)["not_stored"] >= 1
    shutil.copy2(tmp_path / "old.h", header)  # the old content back, mtime and all
    shutil.rmtree(root / "target")
    assert build_and_run(root, env) == "answer 42 twice 84\n"


def test_libz_sys_warm_rebuild_runs_the_c_compiler_at_most_once(tmp_path: Path) -> None:
    """The issue's yardstick: zlib built from C by libz-sys with `static`."""
    root = tmp_path / "zapp"
    write_files(
        root,
        {
            "Cargo.toml": '[package]\nname = "zapp"\nversion = "0.1.0"\nedition = "2021"\n\n'
            '[dependencies]\nlibz-sys = { version = "1", default-features = false, '
            'features = ["static"] }\n',
            "src/main.rs": "fn main() { let v = unsafe { std::ffi::CStr::from_ptr("
            'libz_sys::zlibVersion()) }; println!("zlib {:?}", v); }\n',
        },
    )
    env = online_env(tmp_path, tmp_path / "cache")
    cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
    expected = program_result(root / "target-uncached" / "debug" / "zapp")
    cargo(root, "build", env=env)
    first = c_counts(env)
    assert first["misses"] >= 10, first  # zlib has 15 sources
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    assert program_result(root / "target" / "debug" / "zapp") == expected
    second = c_counts(env)
    compiler_runs = (second["misses"] - first["misses"]) + (
        second["non_cacheable"] - first["non_cacheable"]
    )
    assert compiler_runs <= 1, (first, second)

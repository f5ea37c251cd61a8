"""Helpers for the black-box correctness tests: small cargo projects built for real.

Every build goes through the installed `buildcache` command as cargo's RUSTC_WRAPPER
(or through no wrapper at all, for the reference output), and the tests look only at
what a user sees: the built program's output and exit code, cargo's exit code and
the files on disk.

Module-scoped fixtures build before the autouse `isolated_home` fixture runs, so
every cargo call here gets an explicit environment from `clean_env` instead of
relying on the test's monkeypatched os.environ.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from buildcache.cache.staging import wait_for_all_stores

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# cargo and rustup live under the real home: keep them reachable after HOME moves.
_REAL_HOME = Path(os.path.expanduser("~"))
CARGO_HOME = os.environ.get("CARGO_HOME", str(_REAL_HOME / ".cargo"))
RUSTUP_HOME = os.environ.get("RUSTUP_HOME", str(_REAL_HOME / ".rustup"))

_DROPPED = (
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_INCREMENTAL",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "LIBRARY_PATH",
    "LD_LIBRARY_PATH",
)


def clean_env(home: Path, cache: Path | None = None, **extra: str) -> dict[str, str]:
    """An environment with a throwaway HOME, no buildcache/cargo settings from outside,
    incremental compilation off (faster; the tests that need it turn it on), and
    BUILDCACHE_DIR=cache when given."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("BUILDCACHE_") and name not in _DROPPED
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        CARGO_HOME=CARGO_HOME,
        RUSTUP_HOME=RUSTUP_HOME,
        BUILDCACHE_CONFIG=str(home / "buildcache.conf"),
        BUILDCACHE_SYSTEM_CONFIG=str(home / "system-buildcache.conf"),
        CARGO_INCREMENTAL="0",
        CARGO_TERM_COLOR="never",
        CARGO_NET_OFFLINE="true",
    )
    if cache is not None:
        env["BUILDCACHE_DIR"] = str(cache)
    env.update(extra)
    return env


def gated_build(
    root: Path, env: dict[str, str], gate: Path, while_held: Callable[[], object]
) -> subprocess.CompletedProcess[str]:
    """`cargo build` through the cache with GATE_DIR=gate; while_held runs while rustc
    is inside the first `gate::gate!()` expansion. Returns cargo's result."""
    gate.mkdir(parents=True, exist_ok=True)
    build = subprocess.Popen(
        ["cargo", "build"],
        cwd=root,
        env={**env, "RUSTC_WRAPPER": "buildcache", "GATE_DIR": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (gate / "started").exists():
            if build.poll() is not None:
                raise AssertionError(f"the build ended before the gate: {build.communicate()}")
            assert time.monotonic() < deadline, "the build never reached the gate"
            time.sleep(0.05)
        while_held()
    finally:
        (gate / "go").write_text("")
        stdout, stderr = build.communicate(timeout=300)
    wait_for_stores(env)
    return subprocess.CompletedProcess(build.args, build.returncode, stdout, stderr)


def wait_for_stores(env: dict[str, str]) -> None:
    """Let the build's last misses finish storing in the background, as `buildcache
    stats` does, before a test looks into or copies the cache dir."""
    if env.get("BUILDCACHE_DIR"):
        wait_for_all_stores(env["BUILDCACHE_DIR"])


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def package_toml(name: str, *, deps: tuple[str, ...] = (), extra: str = "") -> str:
    """A Cargo.toml for a workspace member under crates/NAME; deps are sibling members."""
    lines = [
        "[package]",
        f'name = "{name}"',
        'version = "0.1.0"',
        'edition = "2021"',
        extra,
        "",
        "[dependencies]",
        *(f'{dep} = {{ path = "../{dep}" }}' for dep in deps),
    ]
    return "\n".join(lines) + "\n"


# A proc-macro that, when GATE_DIR is set, announces that rustc is compiling the crate
# that invokes `gate::gate!()` and waits for the test's go-ahead: it holds a compile
# open without timing guesses.
GATE_MACRO = r"""
use proc_macro::TokenStream;
use std::{path::Path, thread, time::Duration};

#[proc_macro]
pub fn gate(_: TokenStream) -> TokenStream {
    if let Ok(dir) = std::env::var("GATE_DIR") {
        let dir = Path::new(&dir);
        std::fs::write(dir.join("started"), "").unwrap();
        for _ in 0..1200 {
            if dir.join("go").exists() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    TokenStream::new()
}
"""

WORKSPACE_TOML = '[workspace]\nresolver = "2"\nmembers = ["crates/*"]\n'
# The gate proc-macro as a member of such a workspace (crates/gate), for the crates that
# invoke `gate::gate!()` and depend on it.
GATE_CRATE = {
    "crates/gate/Cargo.toml": package_toml("gate", extra="\n[lib]\nproc-macro = true"),
    "crates/gate/src/lib.rs": GATE_MACRO,
}


# C and C++ compiled by a build script through cc-rs (test_c_compiles.py).
C_SOURCE = '#include "bonus.h"\nint answer(void) { return ANSWER_BASE + BONUS; }\n'
C_HEADER = "#define BONUS 2\n"
CPP_SOURCE = 'extern "C" int twice(int x) { return x * 2; }\n'
C_BUILD_SCRIPT = """
fn main() {
    println!("cargo:rerun-if-env-changed=ANSWER_BASE");
    println!("cargo:rerun-if-changed=native");
    let base = std::env::var("ANSWER_BASE").unwrap_or_else(|_| "40".into());
    cc::Build::new().file("native/answer.c").define("ANSWER_BASE", base.as_str()).compile("answer");
    cc::Build::new().cpp(true).file("native/twice.cpp").compile("twice");
}
"""
C_MAIN = """
extern "C" { fn answer() -> i32; fn twice(x: i32) -> i32; }
fn main() { unsafe { println!("answer {} twice {}", answer(), twice(answer())); } }
"""


def c_workspace(root: Path) -> Path:
    """A build script compiling C and C++ with the `cc` crate (from crates.io: build
    with CARGO_NET_OFFLINE=false); the program prints "answer 42 twice 84"."""
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/app/Cargo.toml": package_toml("app", extra='build = "build.rs"')
            + '\n[build-dependencies]\ncc = "1"\n',
            "crates/app/build.rs": C_BUILD_SCRIPT,
            "crates/app/native/answer.c": C_SOURCE,
            "crates/app/native/bonus.h": C_HEADER,
            "crates/app/native/twice.cpp": CPP_SOURCE,
            "crates/app/src/main.rs": C_MAIN,
        },
    )
    return root


def cargo(
    root: Path,
    *args: str,
    env: dict[str, str],
    cached: bool = True,
    toolchain: str | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run cargo in root, through buildcache when cached. check=True fails the test
    with cargo's output when cargo fails."""
    env = dict(env)
    if cached:
        env["RUSTC_WRAPPER"] = "buildcache"
    command = ["cargo", *([f"+{toolchain}"] if toolchain else []), *args]
    result = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )
    if cached:
        wait_for_stores(env)
    if check and result.returncode != 0:
        how = "through buildcache" if cached else "without a wrapper"
        raise AssertionError(
            f"`{' '.join(command)}` {how} in {root} failed ({result.returncode}):\n"
            f"{result.stderr[-6000:]}"
        )
    return result


def run_program(
    binary: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary)], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def program_result(binary: Path, env: dict[str, str] | None = None) -> str:
    """What a user sees when running binary: stdout, plus the exit code and stderr if it
    failed, as one string so one assertion shows all of it."""
    result = run_program(binary, env)
    if result.returncode == 0:
        return result.stdout
    return f"{result.stdout}[exit {result.returncode}] {result.stderr.strip()}"


def copy_checkout(source: Path, destination: Path) -> Path:
    """A second checkout of the same sources at another path, without any target dir."""
    shutil.copytree(
        source, destination, ignore=shutil.ignore_patterns("target", "target-*"), symlinks=True
    )
    return destination


def buildcache(
    *args: str, env: dict[str, str], check: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildcache", *args], env=env, capture_output=True, text=True, timeout=120, check=check
    )


def cache_stats(env: dict[str, str]) -> dict[str, object]:
    result = buildcache("stats", "--json", env=env, check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def entries_of_crate(cache: Path, crate: str) -> list[Path]:
    """The cache entries whose outputs belong to crate (lib, bin, build script...).

    Reads the entry headers with the package's own decoder: the tests find entries the
    way a user deleting files would, without relying on the key layout."""
    from buildcache.cache import store

    found = []
    for path in cache.glob("*/*/*.entry"):
        try:
            entry = store.Entry.decode(path.read_bytes())
        except store.CorruptEntry:
            continue
        names = [name for name, _, _ in entry.outputs]
        if any(name.startswith((f"{crate}-", f"lib{crate}-")) for name in names):
            found.append(path)
    return found


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every path under root (not following symlinks) -> a digest of what it is."""
    snapshot = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                snapshot[relative] = "symlink " + os.readlink(path)
            elif path.is_dir():
                snapshot[relative] = "dir"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                snapshot[relative] = f"file {digest} mode {path.stat().st_mode & 0o7777:o}"
    return snapshot


def snapshot_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Pre-existing paths that vanished or changed (new paths are not listed)."""
    changes = []
    for path, what in sorted(before.items()):
        if path not in after:
            changes.append(f"deleted {path}")
        elif after[path] != what:
            changes.append(f"modified {path}")
    return changes


def new_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(set(after) - set(before))

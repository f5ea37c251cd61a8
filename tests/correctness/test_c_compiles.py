"""C and C++ compiles that build scripts send through the wrapper (cc-rs).

cc-rs puts RUSTC_WRAPPER in front of its compiler when the wrapper is named
buildcache, so `-sys` crates call `buildcache cc -c x.c -o x.o`, the compiler often
a bare name. These builds use the real `cc` crate from crates.io.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    cargo,
    clean_env,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

C_SOURCE = "int answer(void) { return ANSWER_BASE + 2; }\n"
CPP_SOURCE = 'extern "C" int twice(int x) { return x * 2; }\n'
BUILD_SCRIPT = """
fn main() {
    cc::Build::new().file("native/answer.c").define("ANSWER_BASE", "40").compile("answer");
    cc::Build::new().cpp(true).file("native/twice.cpp").compile("twice");
}
"""
MAIN = """
extern "C" { fn answer() -> i32; fn twice(x: i32) -> i32; }
fn main() { unsafe { println!("answer {} twice {}", answer(), twice(answer())); } }
"""


def c_workspace(root: Path) -> Path:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/app/Cargo.toml": package_toml("app", extra='build = "build.rs"')
            + '\n[build-dependencies]\ncc = "1"\n',
            "crates/app/build.rs": BUILD_SCRIPT,
            "crates/app/native/answer.c": C_SOURCE,
            "crates/app/native/twice.cpp": CPP_SOURCE,
            "crates/app/src/main.rs": MAIN,
        },
    )
    return root


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

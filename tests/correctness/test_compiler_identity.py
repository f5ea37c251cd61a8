"""Class 1: a compiler rebuilt with the same version string is another compiler.

A rustc developer's linked stage1 toolchain, or a distro package rebuilt with a
backported codegen fix, reports the same `rustc -vV` and sysroot as before. Its
output differs, so a cache that identifies the compiler by those strings serves the
old compiler's artifacts. Here a toolchain dir whose `rustc` launcher and
`lib/librustc_driver-*.so` stand in for a real compiler's: the launcher runs the
real rustc, adding `--cfg patched` when its build says so (a new launcher) or when
the driver library says so (a new driver behind the same launcher).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from correctness_helpers import cache_stats, cargo, clean_env, package_toml, write_files

pytestmark = pytest.mark.cargo

MAIN_RS = (
    "#![allow(unexpected_cfgs)]\n"
    'fn main() { println!("{}", if cfg!(patched) { "new compiler" } else { "old compiler" }); }\n'
)
LAUNCHER = """#!/bin/sh
# compiler build {build}
if [ "$*" = "--print sysroot" ]; then echo "{toolchain}"; exit 0; fi
case " $* " in
  *" --crate-name "*)
    if [ "{build}" = 2 ] || grep -q patched "{toolchain}/lib/librustc_driver-0123.so"; then
      exec "{real}" "$@" --cfg patched
    fi ;;
esac
exec "{real}" "$@"
"""


def install_launcher(toolchain: Path, real: str, build: int) -> None:
    """Replace bin/rustc the way an install does: a new file renamed into place."""
    new = toolchain / "bin" / "rustc.new"
    new.write_text(LAUNCHER.format(build=build, toolchain=toolchain, real=real))
    new.chmod(0o755)
    os.replace(new, toolchain / "bin" / "rustc")


def rebuild_the_launcher(toolchain: Path, real: str) -> None:
    install_launcher(toolchain, real, 2)


def rebuild_the_driver(toolchain: Path, real: str) -> None:
    (toolchain / "lib" / "librustc_driver-0123.so").write_text("patched driver\n")


CASES = {"launcher": rebuild_the_launcher, "driver": rebuild_the_driver}


@pytest.mark.parametrize("rebuilt", list(CASES))
def test_a_compiler_rebuilt_with_the_same_version_misses(tmp_path: Path, rebuilt: str) -> None:
    real = subprocess.run(
        ["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True
    ).stdout.strip()
    real_rustc = os.path.join(real, "bin", "rustc")
    toolchain = tmp_path / "toolchain"
    (toolchain / "bin").mkdir(parents=True)
    (toolchain / "lib").mkdir()
    (toolchain / "lib" / "librustc_driver-0123.so").write_text("original driver\n")
    install_launcher(toolchain, real_rustc, 1)
    root = tmp_path / "app"
    write_files(root, {"Cargo.toml": package_toml("app"), "src/main.rs": MAIN_RS})
    env = clean_env(tmp_path / "home", tmp_path / "cache", RUSTC=str(toolchain / "bin" / "rustc"))
    cargo(root, "build", env=env)
    assert subprocess.run([root / "target/debug/app"], capture_output=True, text=True).stdout == (
        "old compiler\n"
    )

    CASES[rebuilt](toolchain, real_rustc)
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    cached = subprocess.run([root / "target/debug/app"], capture_output=True, text=True).stdout
    cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
    uncached = subprocess.run(
        [root / "target-uncached/debug/app"], capture_output=True, text=True
    ).stdout
    assert uncached == "new compiler\n", f"test bug: the uncached build prints {uncached!r}"
    assert cached == uncached, "the old compiler's program was served for the rebuilt compiler"

    # The new compiler's identity is remembered: the next build hits.
    hits = cache_stats(env)["hits"]
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    assert cache_stats(env)["hits"] == hits + 1  # type: ignore[operator]

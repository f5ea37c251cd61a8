"""Class 4: an entry must never be stored under a digest of content rustc did not read.

rustc reads a source file, and while it is still compiling the file is replaced by a
new version whose mtime is not newer than the compile's start: `cp -p` of a file
prepared earlier, a rename of such a file over it, or a write followed by restoring the
old mtime. The build in progress produces the old program (that is what rustc read);
but the next build of the new content, from an empty target dir, must print the new
program, as an uncached build does. A cache that hashes the sources after the compile
and trusts mtimes to tell it they did not change stores the old program under the new
content's digest, and that build then prints the old one.

The compile is held open by a proc-macro (`gate::gate!()`) that waits for the test, so
the swap happens at a known point: after rustc read the sources, before it finished.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from correctness_helpers import (
    GATE_CRATE,
    WORKSPACE_TOML,
    cargo,
    clean_env,
    gated_build,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

MAIN_RS = (
    'mod message;\ngate::gate!();\nfn main() {{ println!("{{}} / main {n}", message::text()); }}\n'
)
MESSAGE_RS = 'pub fn text() -> &\'static str {{ "message {n}" }}\n'
FILES = {"main.rs": MAIN_RS, "message.rs": MESSAGE_RS}


def make_workspace(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            **GATE_CRATE,
            "crates/app/Cargo.toml": package_toml("app", deps=("gate",)),
            "crates/app/src/main.rs": MAIN_RS.format(n=1),
            "crates/app/src/message.rs": MESSAGE_RS.format(n=1),
        },
    )


def swap(method: str, path: Path, new_text: str, prepared: Path, long_ago: float) -> None:
    """Replace path's content by new_text without giving it an mtime after the compile
    started."""
    if method == "cp_p":
        shutil.copy2(prepared, path)  # cp -p: content and the prepared file's old mtime
    elif method == "rename":
        os.replace(prepared, path)  # mv of a file written before the build
    elif method == "restore_mtime":
        info = path.stat()
        path.write_text(new_text)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    elif method == "mtime_in_the_past":
        path.write_text(new_text)
        os.utime(path, (long_ago, long_ago))
    else:
        raise ValueError(method)


@pytest.fixture(scope="module")
def cache_with_gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the compiled gate proc-macro only (so each test compiles just app)."""
    base = tmp_path_factory.mktemp("swap")
    make_workspace(base / "ws")
    cargo(base / "ws", "build", "-p", "gate", env=clean_env(base / "home", base / "cache"))
    return base / "cache"


CASES = [
    ("main.rs", "cp_p"),
    ("main.rs", "rename"),
    ("main.rs", "restore_mtime"),
    ("main.rs", "mtime_in_the_past"),
    ("message.rs", "cp_p"),
]


@pytest.mark.parametrize(("swapped", "method"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_content_swapped_during_a_compile_is_not_served_for_the_new_content(
    cache_with_gate: Path, tmp_path: Path, swapped: str, method: str
) -> None:
    root = tmp_path / "ws"
    make_workspace(root)
    shutil.copytree(cache_with_gate, tmp_path / "cache")
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    target = root / "crates" / "app" / "src" / swapped
    new_text = FILES[swapped].format(n=2)
    long_ago = time.time() - 3600
    prepared = root / "crates" / "app" / f".{swapped}.new"
    prepared.write_text(new_text)
    os.utime(prepared, (long_ago, long_ago))

    build = gated_build(
        root, env, tmp_path / "gate", lambda: swap(method, target, new_text, prepared, long_ago)
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert target.read_text() == new_text

    expected = "message 2 / main 1\n" if swapped == "message.rs" else "message 1 / main 2\n"
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    cached = program_result(root / "target" / "debug" / "app")
    if cached != expected:
        cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
        uncached = program_result(root / "target-uncached" / "debug" / "app")
        assert uncached == expected, f"test bug: the uncached build prints {uncached!r}"
        raise AssertionError(
            f"{swapped} now holds version 2, but the cached build from an empty target dir "
            f"prints {cached!r} (uncached: {uncached!r}): the compile that read version 1 "
            "was stored under version 2's digest"
        )

"""Class 4 again: the path to a source may change while rustc compiles, not only the file.

rustc reads `src/message.rs` through a symlink, or through a directory, and while it is
still compiling the symlink is retargeted (`ln -sfn`) or the directory swapped by renames
(`mv gen gen.old && mv gen.new gen`, how generators and sync tools replace a tree at
once). The files themselves are old: none has a ctime after the compile started. The
build in progress produces the old program; the next build from an empty target dir
must print the new one, as an uncached build does. A cache that checks only the final
file's ctime stores the old program under the new content's digest.

The compile is held open by the `gate::gate!()` proc-macro, as in test_source_swap.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from correctness_helpers import (
    GATE_CRATE,
    WORKSPACE_TOML,
    cache_stats,
    cargo,
    clean_env,
    gated_build,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

MESSAGE_RS = 'pub fn text() -> &\'static str {{ "message {n}" }}\n'
MAIN_RS = (
    '#[path = "{path}"] mod message;\n'
    "gate::gate!();\n"
    'fn main() {{ println!("{{}}", message::text()); }}\n'
)


def symlinked_file(app: Path) -> None:
    write_files(app, {"variants/one.rs": MESSAGE_RS.format(n=1)})
    write_files(app, {"variants/two.rs": MESSAGE_RS.format(n=2)})
    (app / "src" / "message.rs").symlink_to("../variants/one.rs")


def retarget_file(app: Path) -> None:
    relink(app / "src" / "message.rs", "../variants/two.rs")


def symlinked_dir(app: Path) -> None:
    write_files(app, {"src/platform_a/message.rs": MESSAGE_RS.format(n=1)})
    write_files(app, {"src/platform_b/message.rs": MESSAGE_RS.format(n=2)})
    (app / "src" / "platform").symlink_to("platform_a")


def retarget_dir(app: Path) -> None:
    relink(app / "src" / "platform", "platform_b")


def plain_dir(app: Path) -> None:
    write_files(app, {"src/gen/message.rs": MESSAGE_RS.format(n=1)})
    write_files(app, {"gen.new/message.rs": MESSAGE_RS.format(n=2)})


def swap_dir(app: Path) -> None:
    os.rename(app / "src" / "gen", app / "gen.old")
    os.rename(app / "gen.new", app / "src" / "gen")


def nested_dir(app: Path) -> None:
    write_files(app, {"src/outer/inner/message.rs": MESSAGE_RS.format(n=1)})
    write_files(app, {"outer.new/inner/message.rs": MESSAGE_RS.format(n=2)})


def swap_outer_dir(app: Path) -> None:
    """The renamed directory is not the file's parent but one above it."""
    os.rename(app / "src" / "outer", app / "outer.old")
    os.rename(app / "outer.new", app / "src" / "outer")


def relink(link: Path, target: str) -> None:
    """`ln -sfn`: a new symlink renamed over the old one."""
    temporary = link.with_name(link.name + ".tmp")
    temporary.symlink_to(target)
    os.replace(temporary, link)


CASES = {
    "file-symlink-retargeted": ("message.rs", symlinked_file, retarget_file),
    "dir-symlink-retargeted": ("platform/message.rs", symlinked_dir, retarget_dir),
    "dir-swapped-by-renames": ("gen/message.rs", plain_dir, swap_dir),
    "grandparent-swapped-by-renames": ("outer/inner/message.rs", nested_dir, swap_outer_dir),
}


def make_workspace(root: Path, module_path: str) -> None:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            **GATE_CRATE,
            "crates/app/Cargo.toml": package_toml("app", deps=("gate",)),
            "crates/app/src/main.rs": MAIN_RS.format(path=module_path),
        },
    )


@pytest.fixture(scope="module")
def cache_with_gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the compiled gate proc-macro only (so each test compiles just app)."""
    base = tmp_path_factory.mktemp("pathswap")
    make_workspace(base / "ws", "message.rs")
    cargo(base / "ws", "build", "-p", "gate", env=clean_env(base / "home", base / "cache"))
    return base / "cache"


@pytest.mark.parametrize("case", list(CASES))
def test_a_path_changed_during_a_compile_is_not_served_for_the_new_content(
    cache_with_gate: Path, tmp_path: Path, case: str
) -> None:
    module_path, prepare, change = CASES[case]
    root = tmp_path / "ws"
    make_workspace(root, module_path)
    app = root / "crates" / "app"
    prepare(app)
    # Every source is older than the compile: only the path changes during it.
    for directory, _, names in os.walk(app):
        for name in names:
            os.utime(Path(directory) / name, (1_000_000_000, 1_000_000_000))
    shutil.copytree(cache_with_gate, tmp_path / "cache")
    env = clean_env(tmp_path / "home", tmp_path / "cache")

    build = gated_build(root, env, tmp_path / "gate", lambda: change(app))
    assert build.returncode == 0, build.stderr[-3000:]
    assert program_result(root / "target" / "debug" / "app") == "message 1\n"

    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    cached = program_result(root / "target" / "debug" / "app")
    if cached != "message 2\n":
        cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
        uncached = program_result(root / "target-uncached" / "debug" / "app")
        assert uncached == "message 2\n", f"test bug: the uncached build prints {uncached!r}"
        raise AssertionError(
            f"{module_path} now leads to version 2, but the cached build from an empty "
            f"target dir prints {cached!r}: the compile that read version 1 was stored "
            "under version 2's digest"
        )


def test_files_created_beside_the_path_do_not_stop_the_store(
    cache_with_gate: Path, tmp_path: Path
) -> None:
    """The check must not give up on every compile during which something was written
    next to a directory on the path (an editor's swap file, a temp file in /tmp)."""
    root = tmp_path / "ws"
    make_workspace(root, "gen/message.rs")
    app = root / "crates" / "app"
    plain_dir(app)
    shutil.copytree(cache_with_gate, tmp_path / "cache")
    env = clean_env(tmp_path / "home", tmp_path / "cache")

    def write_beside() -> None:
        # Not two directories one inside the other: a change in both is what a rename
        # of the inner one looks like, and refuses the store.
        for directory in (tmp_path, root, app / "src" / "gen"):
            (directory / ".scratch.swp").write_text("")

    build = gated_build(root, env, tmp_path / "gate", write_beside)
    assert build.returncode == 0, build.stderr[-3000:]
    before = cache_stats(env)
    assert before["not_stored"] == 0
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    after = cache_stats(env)
    assert (after["hits"], after["misses"]) == (before["hits"] + 2, before["misses"])  # type: ignore[operator]
    assert program_result(root / "target" / "debug" / "app") == "message 1\n"

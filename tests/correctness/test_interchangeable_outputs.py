"""Class 3: outputs stored under one key must be interchangeable (no E0460).

Checkouts A and B of one workspace (lib `base`, lib `mid` using it, bin `app` using
both) at different paths, with their own target dirs, share one cache. rustc's
output for `base` differs between the checkouts (its crate hash depends on the
path) while the cache gives both compiles one key. When a later build combines a
`mid` compiled against A's `base` with B's `base`, rustc refuses to compile `app`:
"error[E0460]: found possibly newer version of crate `base` which `mid` depends on".

The builds here must all succeed and print what an uncached build prints, including
after an edit of app's main.rs (which makes rustc compile `app` against whatever
`mid` and `base` the cache restored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from correctness_helpers import (
    GATE_CRATE,
    WORKSPACE_TOML,
    cargo,
    clean_env,
    copy_checkout,
    entries_of_crate,
    gated_build,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

MAIN_RS = 'fn main() {{ println!("{prefix}mid={{}} base={{}}", mid::mid(), base::base()); }}\n'
EXPECTED = "mid=42 base=7\n"
EDITED = "edited mid=42 base=7\n"


def make_workspace(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            **GATE_CRATE,
            "crates/base/Cargo.toml": package_toml("base", deps=("gate",)),
            "crates/base/src/lib.rs": "gate::gate!();\npub fn base() -> u32 { 7 }\n",
            "crates/mid/Cargo.toml": package_toml("mid", deps=("base",)),
            "crates/mid/src/lib.rs": "pub fn mid() -> u32 { base::base() * 6 }\n",
            "crates/app/Cargo.toml": package_toml("app", deps=("mid", "base")),
            "crates/app/src/main.rs": MAIN_RS.format(prefix=""),
        },
    )


def edit_app(root: Path) -> None:
    (root / "crates" / "app" / "src" / "main.rs").write_text(MAIN_RS.format(prefix="edited "))


def app_output(root: Path) -> str:
    return program_result(root / "target" / "debug" / "app")


def rebuild_and_edit(root: Path, env: dict[str, str], label: str) -> None:
    """From an empty target dir: build, run; edit app, build, run. All through the cache."""
    shutil.rmtree(root / "target", ignore_errors=True)
    build = cargo(root, "build", env=env, check=False)
    assert build.returncode == 0, (
        f"{label}: rebuild from an empty target dir failed:\n" + (build.stderr[-3000:])
    )
    assert app_output(root) == EXPECTED, label
    edit_app(root)
    build = cargo(root, "build", env=env, check=False)
    assert build.returncode == 0, (
        f"{label}: build after editing app/src/main.rs failed:\n" + (build.stderr[-3000:])
    )
    assert app_output(root) == EDITED, label


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkout A, the cache after A and a second checkout built through it)."""
    base = tmp_path_factory.mktemp("interchangeable")
    cache = base / "cache"
    env = clean_env(base / "home", cache)
    checkout_a = base / "checkout-a" / "ws"
    make_workspace(checkout_a)
    cargo(checkout_a, "build", env=env)
    assert app_output(checkout_a) == EXPECTED
    checkout_b = copy_checkout(checkout_a, base / "checkout-b" / "ws")
    cargo(checkout_b, "build", env=env)
    return checkout_a, cache


REMOVALS = [("base",), ("base", "app"), ("mid",), ("base", "mid")]


@pytest.mark.parametrize("removed", REMOVALS, ids=["+".join(r) for r in REMOVALS])
def test_rebuilding_after_losing_some_entries_succeeds(
    filled_cache: tuple[Path, Path], tmp_path: Path, removed: tuple[str, ...]
) -> None:
    checkout_a, filled = filled_cache
    cache = tmp_path / "cache"
    shutil.copytree(filled, cache)
    env = clean_env(tmp_path / "home", cache)
    checkout_b = copy_checkout(checkout_a, tmp_path / "elsewhere" / "checkout-b")
    cargo(checkout_b, "build", env=env)
    assert app_output(checkout_b) == EXPECTED

    for crate in removed:
        entries = entries_of_crate(cache, crate)
        assert entries, f"test bug: no cache entry of {crate}"
        for entry in entries:
            entry.unlink()
    rebuild_and_edit(checkout_b, env, f"checkout B after removing the entries of {removed}")


def test_checkouts_built_concurrently_stay_buildable(tmp_path: Path) -> None:
    """A compiles `base` while B builds everything; then each rebuilds and edits."""
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    checkout_a = tmp_path / "checkout-a" / "ws"
    make_workspace(checkout_a)
    checkout_b = copy_checkout(checkout_a, tmp_path / "checkout-b" / "ws")
    build_a = gated_build(
        checkout_a, env, tmp_path / "gate", lambda: cargo(checkout_b, "build", env=env)
    )
    assert build_a.returncode == 0, f"A's build failed:\n{build_a.stderr[-3000:]}"
    assert app_output(checkout_a) == EXPECTED
    assert app_output(checkout_b) == EXPECTED

    rebuild_and_edit(checkout_a, env, "checkout A")
    rebuild_and_edit(checkout_b, env, "checkout B")

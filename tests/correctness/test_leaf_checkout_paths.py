"""Class 5 again: nothing built in one checkout may carry another checkout's path.

A crate without dependencies names its sources relative to the package dir, so
its key once left the working directory out and checkouts at different paths shared
its entries. But rustc writes the working directory into the output: DWARF's
`DW_AT_comp_dir`, the absolute source paths of the debuginfo (what backtraces,
debuggers and profilers show) and the rmeta's source map. Checkout B then ran a
program whose backtraces pointed into checkout A, another branch or a deleted tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    cargo,
    clean_env,
    copy_checkout,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

LEAF_RS = """
#[inline(never)]
pub fn where_am_i() -> String {
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let frame = trace.lines().find(|line| line.contains("leaf/src/lib.rs"));
    frame.unwrap_or("no frame").trim().to_string()
}
"""


def test_a_leaf_crate_built_in_another_checkout_carries_only_its_own_path(
    tmp_path: Path,
) -> None:
    checkout_a = tmp_path / "checkout-a" / "ws"
    write_files(
        checkout_a,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/leaf/Cargo.toml": package_toml("leaf"),
            "crates/leaf/src/lib.rs": LEAF_RS,
            "crates/app/Cargo.toml": package_toml("app", deps=("leaf",)),
            "crates/app/src/main.rs": 'fn main() { println!("{}", leaf::where_am_i()); }\n',
        },
    )
    checkout_b = copy_checkout(checkout_a, tmp_path / "checkout-b" / "ws")
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    cargo(checkout_a, "build", env=env)
    cargo(checkout_b, "build", env=env)

    cached = program_result(checkout_b / "target" / "debug" / "app")
    assert f"at {checkout_b}/crates/leaf/src/lib.rs" in cached, cached
    foreign = [
        str(path.relative_to(checkout_b))
        for path in (checkout_b / "target").rglob("*")
        if path.is_file() and str(checkout_a).encode() in path.read_bytes()
    ]
    assert not foreign, f"checkout B's build names checkout A ({checkout_a}): {foreign}"

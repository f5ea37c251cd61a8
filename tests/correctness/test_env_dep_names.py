"""An env var whose name rustc escapes in dep-info must still key the cache.

rustc writes `# env-dep:A\\\\B` for `option_env!("A\\\\B")` (it escapes backslashes,
newlines and carriage returns in names as in values). Read literally, the name was
`A\\\\B` (two backslashes), a variable nobody sets: the entry stored while `A\\B` was
unset then matched after `A\\B` was set, and the program kept printing None. Found by
tests/fuzz/test_fuzz_depinfo.py.
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

NAME = "A\\B"
MAIN = 'fn main() { println!("{:?}", option_env!("A\\\\B")); }\n'


def test_setting_a_variable_with_a_backslash_in_its_name_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/app/Cargo.toml": package_toml("app"),
            "crates/app/src/main.rs": MAIN,
        },
    )
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    app = root / "target" / "debug" / "app"

    cargo(root, "build", env=env)
    unset = program_result(app)
    cargo(root, "build", env={**env, NAME: "set"})
    set_ = program_result(app)

    assert unset.strip() == "None"
    assert set_.strip() == 'Some("set")', "a cached build ignored the variable's new value"

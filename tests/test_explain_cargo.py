"""explain after real cargo builds: it names the edited file and the changed variable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from rust_workspace import make_workspace

pytestmark = pytest.mark.cargo


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildcache", "explain", *args], capture_output=True, text=True, check=True
    )


def test_explain_names_the_crate_and_the_edited_file(cache_dir: Path, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    ws.cargo("build", env={"RUSTC_WRAPPER": "buildcache"})
    ws.write("crates/core_lib/src/math.rs", "pub fn answer() -> u64 {\n    7 * 6\n}\n")
    ws.cargo("build", env={"RUSTC_WRAPPER": "buildcache"})

    text = explain("core_lib").stdout
    assert "core_lib: miss at" in text
    assert "source file crates/core_lib/src/math.rs: content changed" in text
    data = json.loads(explain("--json", "app").stdout)
    (app,) = data["misses"]
    assert app["differences"] == [{"kind": "extern", "name": "core_lib", "change": "changed"}]
    assert "where_am_i: never missed" not in explain("where_am_i").stdout
    assert "nothing_here: never missed" in explain("nothing_here").stdout


def test_explain_names_the_changed_environment_variable(cache_dir: Path, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    ws.write(
        "crates/where_am_i/src/lib.rs",
        "pub fn manifest_dir() -> &'static str {\n"
        '    option_env!("FIXTURE_NOTE").unwrap_or(env!("CARGO_MANIFEST_DIR"))\n}\n',
    )
    ws.cargo("build", env={"RUSTC_WRAPPER": "buildcache", "FIXTURE_NOTE": "first"})
    ws.cargo("build", env={"RUSTC_WRAPPER": "buildcache", "FIXTURE_NOTE": "second"})
    assert "env var FIXTURE_NOTE: 'first' -> 'second'" in explain("where_am_i").stdout
    assert "second" in ws.run_app()

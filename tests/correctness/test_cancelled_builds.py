"""A build cancelled by a signal leaves nothing running, and the next build is right.

`timeout`, a CI job's cancel, a closed terminal and Ctrl-C all signal cargo's process
group while rustc compiles. Without a cache, rustc dies with cargo. Through buildcache
(its launch client, and the server's child that runs the call) the compile must end
too, and must never start over: a compile of the old sources that outlived cargo
would write its library into the target dir after the next build had written the new
one, and the build after that would link the old code (the red team's finding: the
launch client took the child's death by the forwarded SIGTERM for "died without an
answer" and ran the call again through the Python launcher).

The compile is held open by the gate proc-macro (correctness_helpers.GATE_MACRO), so
the signal arrives at a known point: inside rustc, in the middle of the library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from correctness_helpers import (
    GATE_CRATE,
    WORKSPACE_TOML,
    cargo,
    clean_env,
    package_toml,
    program_result,
    wait_for_stores,
    write_files,
)

pytestmark = pytest.mark.cargo

LIB_RS = 'gate::gate!();\npub const VERSION: &str = "{version}";\n'


def make_workspace(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            **GATE_CRATE,
            "crates/lib/Cargo.toml": package_toml("lib", deps=("gate",)),
            "crates/lib/src/lib.rs": LIB_RS.format(version="v1"),
            "crates/app/Cargo.toml": package_toml("app", deps=("lib",)),
            "crates/app/src/main.rs": 'fn main() { println!("{}", lib::VERSION); }\n',
        },
    )


def processes_with(variable: str) -> list[int]:
    """The pids whose environment holds this exact NAME=value (the build's processes)."""
    wanted = variable.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if wanted in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize(
    "number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda n: n.name
)
def test_a_build_cancelled_by_a_signal_leaves_no_compile_behind(
    tmp_path: Path, number: signal.Signals
) -> None:
    root = tmp_path / "ws"
    make_workspace(root)
    gate = tmp_path / "gate"
    gate.mkdir()
    env = clean_env(tmp_path / "home", tmp_path / "cache", CARGO_TARGET_DIR=str(tmp_path / "t"))
    env["RUSTC_WRAPPER"] = "buildcache"
    buildcache_env = {**env, "GATE_DIR": str(gate)}
    # A build that starts the launch server, so the cancelled build's calls are served.
    subprocess.run(["buildcache", "rustc", "-vV"], env=env, capture_output=True, check=True)

    build = subprocess.Popen(
        ["cargo", "build", "-j2"],
        cwd=root,
        env=buildcache_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as a terminal's job or CI step
    )
    deadline = time.monotonic() + 180
    while not (gate / "started").exists():
        assert build.poll() is None, "the build ended before the gate"
        assert time.monotonic() < deadline, "the build never reached the gate"
        time.sleep(0.05)
    (gate / "started").unlink()
    os.killpg(build.pid, number)  # what `timeout`, a CI cancel or `kill -- -PGID` sends
    build.wait(timeout=60)

    # Nothing of that build may still run, and nothing of it may start compiling again.
    marker = f"GATE_DIR={gate}"
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == [], "a process of the cancelled build is still running"
    assert not (gate / "started").exists(), "the cancelled compile started over"

    (gate / "go").write_text("")
    write_files(root, {"crates/lib/src/lib.rs": LIB_RS.format(version="v2")})
    cargo(root, "build", env=buildcache_env)
    assert program_result(tmp_path / "t" / "debug" / "app") == "v2\n"
    time.sleep(1.0)  # what a late compile of the old library would need to land
    (root / "crates" / "app" / "src" / "main.rs").touch()
    cargo(root, "build", env=buildcache_env)
    wait_for_stores(env)
    assert program_result(tmp_path / "t" / "debug" / "app") == "v2\n"

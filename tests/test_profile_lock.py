from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from buildcache.sweep.cargo_locks import cargo_locks


def test_sweep_waits_for_a_running_cargo_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".cargo-lock").write_text("")
    cargo = os.open(tmp_path / ".cargo-lock", os.O_RDONLY)
    fcntl.flock(cargo, fcntl.LOCK_EX)  # what cargo holds during a build
    entered = threading.Event()

    def sweep() -> None:
        with cargo_locks([tmp_path]):
            entered.set()

    thread = threading.Thread(target=sweep)
    thread.start()
    time.sleep(0.2)
    assert not entered.is_set()
    os.close(cargo)
    thread.join(timeout=5)
    assert entered.is_set()
    assert "waiting for the cargo build" in capsys.readouterr().err


@pytest.mark.parametrize("lock_name", [".cargo-build-lock", ".cargo-lock"])
def test_sweep_waits_for_a_build_holding_either_lock_of_newer_cargo(
    tmp_path: Path, lock_name: str
) -> None:
    """cargo 1.97 nightly locks a build dir's profile with .cargo-build-lock (exclusive;
    the only lock a separate build dir gets) and .cargo-lock shared."""
    for name in (".cargo-lock", ".cargo-build-lock"):
        (tmp_path / name).write_text("")
    cargo = os.open(tmp_path / lock_name, os.O_RDONLY)
    fcntl.flock(cargo, fcntl.LOCK_SH if lock_name == ".cargo-lock" else fcntl.LOCK_EX)
    entered = threading.Event()
    thread = threading.Thread(target=lambda: _hold(cargo_locks([tmp_path]), entered), daemon=True)
    thread.start()
    time.sleep(0.2)
    assert not entered.is_set()
    os.close(cargo)
    thread.join(timeout=5)
    assert entered.is_set()


def test_a_profile_without_a_lock_file_is_not_given_one(tmp_path: Path) -> None:
    with cargo_locks([tmp_path]):
        pass
    assert not (tmp_path / ".cargo-lock").exists()
    assert not (tmp_path / ".cargo-build-lock").exists()


def test_sweep_holds_no_lock_while_it_waits_for_another(tmp_path: Path) -> None:
    """cargo locks the host profile before <triple>/<profile>; sweep must not hold one
    and wait for the other, or the two deadlock."""
    host, cross = tmp_path / "debug", tmp_path / "aarch64-unknown-linux-gnu" / "debug"
    for profile in (host, cross):
        profile.mkdir(parents=True)
        (profile / ".cargo-lock").write_text("")
    cargo = os.open(host / ".cargo-lock", os.O_RDONLY)
    fcntl.flock(cargo, fcntl.LOCK_EX)
    entered = threading.Event()
    # daemon: with the old lock order this thread never finishes; fail, don't hang
    thread = threading.Thread(
        target=lambda: _hold(cargo_locks([host, cross]), entered), daemon=True
    )
    thread.start()
    time.sleep(0.3)
    probe = os.open(cross / ".cargo-lock", os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if sweep kept it
        fcntl.flock(probe, fcntl.LOCK_UN)
    finally:
        os.close(probe)
    assert not entered.is_set()
    os.close(cargo)
    thread.join(timeout=5)
    assert entered.is_set()


def _hold(locks, entered: threading.Event) -> None:  # type: ignore[no-untyped-def]
    with locks:
        entered.set()

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from buildcache.profile_lock import cargo_locks


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


def test_a_profile_without_a_lock_file_is_not_given_one(tmp_path: Path) -> None:
    with cargo_locks([tmp_path]):
        pass
    assert not (tmp_path / ".cargo-lock").exists()

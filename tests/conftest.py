"""Shared fixtures. Every test runs with a throwaway HOME so nothing touches the real one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# cargo and rustup live under the real home; keep them reachable after HOME moves.
REAL_HOME = Path(os.path.expanduser("~"))
CARGO_HOME = os.environ.get("CARGO_HOME", str(REAL_HOME / ".cargo"))
RUSTUP_HOME = os.environ.get("RUSTUP_HOME", str(REAL_HOME / ".rustup"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (CI=true) every tool is installed, so a skip means something is missing: fail."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be skipped: {report.longrepr}"


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    """The Docker engine for the container tests (tests/infra, tests/image)."""
    docker = pytest.importorskip("docker", reason="the Docker SDK for Python is not installed")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no engine to test with
        pytest.skip(f"no Docker engine reachable ({error})")
    return client


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point HOME, XDG dirs and buildcache's config files at a fresh directory.

    A test that forgets to pass its own BUILDCACHE_DIR then writes into this
    throwaway home instead of the developer's real cache.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CARGO_HOME", CARGO_HOME)
    monkeypatch.setenv("RUSTUP_HOME", RUSTUP_HOME)
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUILDCACHE_CONFIG", str(home / "buildcache.conf"))
    monkeypatch.setenv("BUILDCACHE_SYSTEM_CONFIG", str(home / "system-buildcache.conf"))
    for name in (
        "BUILDCACHE_DIR",
        "BUILDCACHE_MAX_SIZE",
        "BUILDCACHE_DISABLE",
        "BUILDCACHE_LOG",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_INCREMENTAL",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh buildcache directory, exported as BUILDCACHE_DIR."""
    path = tmp_path / "cache"
    monkeypatch.setenv("BUILDCACHE_DIR", str(path))
    return path

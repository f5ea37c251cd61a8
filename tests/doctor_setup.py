"""Build injected doctor Setups in temp directories, so no test reads the real machine."""

from __future__ import annotations

import os
from pathlib import Path

from buildcache.doctor.model import Setup


def make_setup(
    tmp_path: Path,
    *,
    cargo_config: str | None = None,
    crontab: tuple[str, ...] = ("false",),
    **env: str,
) -> Setup:
    """HOME, CARGO_HOME, the buildcache config files and cache dir all under tmp_path."""
    home = tmp_path / "home"
    cwd = tmp_path / "work" / "project"
    cwd.mkdir(parents=True, exist_ok=True)
    (home / ".cargo").mkdir(parents=True, exist_ok=True)
    if cargo_config is not None:
        (home / ".cargo" / "config.toml").write_text(cargo_config)
    environ = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "CARGO_HOME": str(home / ".cargo"),
        "BUILDCACHE_CONFIG": str(home / "buildcache.conf"),
        "BUILDCACHE_SYSTEM_CONFIG": str(home / "system-buildcache.conf"),
        "BUILDCACHE_DIR": str(tmp_path / "cache"),
        **env,
    }
    return Setup(
        environ=environ, cwd=cwd, home=home, cron_file=tmp_path / "cron", crontab_command=crontab
    )

"""What every doctor check shares: the result type, the injectable setup, small probes.

Each check is a small function taking a Setup (environment, current directory, home,
cron and systemd locations) and returning one CheckResult, so tests drive it with their own
paths instead of patching. The checks live in cache_checks, cargo_checks and install_checks;
runner.py runs them in order. This module imports none of them (no import circle).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Where the provisioning role installs the cleanup job when run as root.
DEFAULT_CRON_FILE = "/etc/cron.d/buildcache"
# Overrides DEFAULT_CRON_FILE for images that install the job elsewhere, and for tests.
CRON_FILE_VARIABLE = "BUILDCACHE_CRON_FILE"


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"  # works, but not as the kit intends; doctor still exits 0
    FAIL = "fail"  # broken: builds are not cached, or will fail; doctor exits 1


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    fix: str | None = None  # what to do about it; None when there is nothing to do

    def as_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "fix": self.fix,
        }


def ok(name: str, message: str) -> CheckResult:
    return CheckResult(name, Status.OK, message)


def warn(name: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, message, fix)


def fail(name: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, message, fix)


@dataclass(frozen=True)
class Setup:
    """Everything the checks read from the outside world, so a test can supply its own."""

    environ: Mapping[str, str]
    cwd: Path
    home: Path
    cron_file: Path = Path(DEFAULT_CRON_FILE)
    crontab_command: tuple[str, ...] = ("crontab", "-l")

    @classmethod
    def from_process(cls) -> Setup:
        environ = dict(os.environ)
        return cls(
            environ=environ,
            cwd=Path.cwd(),
            home=Path(environ.get("HOME") or os.path.expanduser("~")),
            cron_file=Path(environ.get(CRON_FILE_VARIABLE) or DEFAULT_CRON_FILE),
        )

    @property
    def search_path(self) -> str:
        return self.environ.get("PATH", os.defpath)

    @property
    def systemd_user_dir(self) -> Path:
        """Where `systemctl --user` finds the user's own units (the role writes its timer
        there when a machine has no cron)."""
        config = self.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "systemd" / "user"


def nearest_existing(path: Path) -> Path:
    """path itself, or its closest ancestor that exists."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def writable_dir_problem(path: Path) -> str | None:
    """None if path is (or can be made) a directory we can create files in; else why not.

    Permission bits are not trusted (root ignores them; read-only mounts do not show in
    them): the probe really creates and removes an entry.
    """
    import tempfile

    from buildcache.cache.atomic import TEMP_PREFIX

    existing = nearest_existing(path)
    if not existing.is_dir():
        if existing == path:
            return f"{path} exists but is not a directory"
        return f"{path} cannot be created: {existing} is not a directory"
    prefix = f"{TEMP_PREFIX}doctor-"
    try:
        if existing == path:
            handle, probe = tempfile.mkstemp(dir=path, prefix=prefix)
            os.close(handle)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(dir=existing, prefix=prefix))
    except OSError as error:
        reason = error.strerror or str(error)
        if existing == path:
            return f"cannot create files in {path} ({reason})"
        return f"{path} cannot be created: cannot create directories in {existing} ({reason})"
    return None

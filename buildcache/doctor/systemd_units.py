"""Read the user's systemd timers from their unit files, as the cleanup check needs them.

doctor must work without a running user manager (containers, SSH sessions, tests), so it
never asks `systemctl`: a timer counts as enabled when the link `systemctl --user enable`
makes for `WantedBy=timers.target` is there, which is also what makes the manager start
it at the next login. Only doctor imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# What `systemctl --user enable` links a timer into (its [Install] WantedBy=timers.target).
ENABLED_TIMERS_DIR = "timers.target.wants"
# Characters systemd accepts before an ExecStart= program ("-" ignores its exit status).
EXEC_PREFIXES = "-@:+!"


@dataclass(frozen=True)
class Timer:
    """A timer unit, whether it is enabled, and the commands of the service it starts."""

    name: str
    path: Path
    enabled: bool
    service: Path
    commands: tuple[str, ...]


def _values(path: Path, section: str, key: str) -> list[str]:
    """The values of `key=` in `[section]`, in order; an empty value resets the list,
    as it does for systemd's list settings (ExecStart=)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    values: list[str] = []
    current = ""
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
            continue
        name, sep, value = stripped.partition("=")
        if sep and current == section and name.strip() == key:
            value = value.strip()
            values = [*values, value] if value else []
    return values


def timers(unit_dir: Path) -> list[Timer]:
    """The timers defined in or enabled from unit_dir, sorted by name."""
    wants = unit_dir / ENABLED_TIMERS_DIR
    names = {path.name for directory in (unit_dir, wants) for path in _timer_files(directory)}
    found = []
    for name in sorted(names):
        link = wants / name
        # A unit enabled from elsewhere is defined where its link points.
        path = unit_dir / name if (unit_dir / name).exists() else link.resolve()
        unit = (_values(path, "Timer", "Unit") or [name[: -len(".timer")] + ".service"])[-1]
        service = path.parent / unit
        commands = tuple(
            command.lstrip(EXEC_PREFIXES) for command in _values(service, "Service", "ExecStart")
        )
        found.append(Timer(name, path, link.exists(), service, commands))
    return found


def _timer_files(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.name.endswith(".timer")]
    except OSError:
        return []

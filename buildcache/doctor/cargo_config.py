"""Read the cargo settings buildcache depends on, with cargo's precedence and file discovery.

cargo reads `.cargo/config.toml` in the current directory and each ancestor, then
`$CARGO_HOME/config.toml`; the deeper file wins a conflict. In each directory the
extensionless `config` (older setups) is used instead of `config.toml` when both exist.
An environment variable beats every file. Only `doctor` imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# In each config directory, the file cargo reads, in the order cargo tries them.
CONFIG_FILE_NAMES = ("config", "config.toml")


class CargoConfigError(Exception):
    """A cargo config file cargo itself would refuse to read (cargo fails every build)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Setting:
    """One value of a cargo setting and where it was found."""

    value: str
    origin: str  # an environment variable's name, or a config file's path
    base_dir: Path  # what a relative path in the value is relative to
    from_environment: bool = False


def cargo_home(environ: Mapping[str, str], home: Path) -> Path:
    return Path(environ["CARGO_HOME"]) if environ.get("CARGO_HOME") else home / ".cargo"


def config_files(*, cwd: Path, cargo_home_dir: Path) -> list[Path]:
    """The config files cargo reads, highest precedence first."""
    directories = [directory / ".cargo" for directory in (cwd, *cwd.parents)]
    if cargo_home_dir not in directories:
        directories.append(cargo_home_dir)
    found = []
    for directory in directories:
        for name in CONFIG_FILE_NAMES:
            if (directory / name).is_file():
                found.append(directory / name)
                break
    return found


def _relative_base(path: Path) -> Path:
    """cargo resolves relative paths in a config file against the directory holding `.cargo`
    (for `$CARGO_HOME/config.toml`, the parent of CARGO_HOME)."""
    return path.parent.parent


def read_table(path: Path) -> dict[str, Any]:
    """Parse one config file; raises CargoConfigError for what cargo would reject."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CargoConfigError(path, f"cannot be read ({error})") from None
    try:
        import tomllib
    except ImportError:  # Python < 3.11: a line scan that knows enough for our keys
        return _scan_simple_toml(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CargoConfigError(path, f"is not valid TOML ({error})") from None


def _scan_simple_toml(text: str) -> dict[str, Any]:
    """`[table]` headers and `key = "string"` lines, including dotted keys; nothing more."""
    data: dict[str, Any] = {}
    table: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and not line.startswith("[["):
            table = [part.strip().strip("\"'") for part in line[1:-1].split(".")]
            continue
        key, sep, value = line.partition("=")
        value = value.strip()
        if not sep or len(value) < 2 or value[0] not in "\"'" or value[-1] != value[0]:
            continue
        keys = table + [part.strip().strip("\"'") for part in key.split(".")]
        node = data
        for part in keys[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[keys[-1]] = value[1:-1]
    return data


def _lookup(table: Mapping[str, Any], dotted_key: str) -> object:
    node: object = table
    for part in dotted_key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def env_name(dotted_key: str) -> str:
    """cargo's environment name for a config key: build.jobs -> CARGO_BUILD_JOBS."""
    return "CARGO_" + dotted_key.upper().replace(".", "_").replace("-", "_")


def settings(
    dotted_key: str,
    *,
    environ: Mapping[str, str],
    cwd: Path,
    cargo_home_dir: Path,
    env_overrides: tuple[str, ...] = (),
) -> Iterator[Setting]:
    """Every value of a setting, the one cargo uses first.

    env_overrides are the tool variables cargo checks before the config key
    (RUSTC_WRAPPER before build.rustc-wrapper). An empty variable is yielded
    too: for the wrapper variables, cargo reads it as "no wrapper".
    """
    for name in (*env_overrides, env_name(dotted_key)):
        if name in environ:
            yield Setting(environ[name], name, cwd, from_environment=True)
    for path in config_files(cwd=cwd, cargo_home_dir=cargo_home_dir):
        value = _lookup(read_table(path), dotted_key)
        if isinstance(value, str):
            yield Setting(value, str(path), _relative_base(path))


def find_config_program(value: str, base_dir: Path, *, search_path: str) -> Path | None:
    """Where cargo finds a program setting: bare names on PATH, other paths against base_dir."""
    import shutil

    if os.sep not in value:
        found = shutil.which(value, path=search_path)
        return Path(found) if found else None
    path = base_dir / value  # cargo does not expand ~
    return path if path.is_file() and os.access(path, os.X_OK) else None

"""Effective configuration: environment > user config file > system config file > default.

Imported by the wrapper's hot path, so it uses only `os`. Every value is
parsed here and only here, so a bad value always produces the same error
naming its variable (ConfigError), whether the CLI or the wrapper reads it.

Config files hold `NAME = value` lines with the same names as the
environment variables; `#` starts a comment. Files exist for the consumers
that do not see a shell's environment: cron, IDEs, CI steps.
"""

from __future__ import annotations

import os

from buildcache.errors import ConfigError
from buildcache.sizes import parse_cache_size

DEFAULT_MAX_SIZE = "10G"
# zstd level 1, ccache's default: on a cold debug build of real crates.io dependencies it
# stores 3.6x less at 11 ms of CPU per entry; level 3 (sccache's) stores 4.0x less for
# 17 ms. Every miss pays it before cargo may go on, so the cheaper level wins by default.
DEFAULT_COMPRESSION_LEVEL = 1
MAX_COMPRESSION_LEVEL = 19  # zstd's own command line wants --ultra above this
SYSTEM_CONFIG_FILE = "/etc/buildcache.conf"
VARIABLES = (
    "BUILDCACHE_DIR",
    "BUILDCACHE_MAX_SIZE",
    "BUILDCACHE_DISABLE",
    "BUILDCACHE_LOG",
    "BUILDCACHE_COMPRESSION_LEVEL",
)

_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"", "0", "false", "no", "off"}


def parse_bool(text: str, *, variable: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ConfigError(variable, text, "expected 1/0, true/false, yes/no or on/off")


def parse_compression_level(text: str, *, variable: str) -> int:
    word = text.strip()
    if not (word.isdigit() and word.isascii()) or int(word) > MAX_COMPRESSION_LEVEL:
        raise ConfigError(
            variable, text, f"expected a zstd level from 1 to {MAX_COMPRESSION_LEVEL}, or 0 for off"
        )
    return int(word)


def read_config_file(path: str) -> dict[str, str]:
    """`NAME = value` lines of a config file; a missing file is empty."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block every rustc call
            raise ConfigError("config file", path, "is not a regular file")
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError("config file", path, f"cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError("config file", path, f"is not UTF-8 text ({error.reason})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or name not in VARIABLES:
            raise ConfigError(
                f"{path}:{number}",
                line,
                f"expected NAME = value with NAME one of {', '.join(VARIABLES)}",
            )
        values[name] = value.strip().strip("\"'")
    return values


def user_config_file(environ: dict[str, str] | os._Environ[str]) -> str:
    if environ.get("BUILDCACHE_CONFIG"):
        return environ["BUILDCACHE_CONFIG"]
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(_home(environ), ".config")
    return os.path.join(base, "buildcache", "buildcache.conf")


def _home(environ: dict[str, str] | os._Environ[str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


class Config:
    """The effective configuration and, per variable, where its value came from."""

    __slots__ = ("cache_dir", "max_bytes", "disabled", "log", "compression_level", "origins")

    def __init__(
        self,
        cache_dir: str,
        max_bytes: int,
        disabled: bool,
        log: str,
        origins: dict[str, str],
        *,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    ) -> None:
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        self.disabled = disabled
        self.log = log
        self.compression_level = compression_level  # 0: entries stored uncompressed
        self.origins = origins


def load_config(environ: dict[str, str] | os._Environ[str] | None = None) -> Config:
    """Resolve every variable; raises ConfigError naming the first bad one."""
    environ = os.environ if environ is None else environ
    layers = [
        ("environment", {name: environ[name] for name in VARIABLES if name in environ}),
        (user_config_file(environ), None),
        (environ.get("BUILDCACHE_SYSTEM_CONFIG", SYSTEM_CONFIG_FILE), None),
    ]
    raw: dict[str, str] = {}
    origins: dict[str, str] = {}
    for origin, values in layers:
        if values is None:
            values = read_config_file(origin)
        for name, value in values.items():
            if name not in raw:
                raw[name] = value
                origins[name] = origin

    if "BUILDCACHE_DIR" in raw and raw["BUILDCACHE_DIR"]:
        cache_dir = os.path.expanduser(raw["BUILDCACHE_DIR"])
        if not os.path.isabs(cache_dir):
            raise ConfigError("BUILDCACHE_DIR", raw["BUILDCACHE_DIR"], "must be an absolute path")
    else:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(_home(environ), ".cache")
        cache_dir = os.path.join(base, "buildcache")
        origins["BUILDCACHE_DIR"] = "default"

    max_size = raw.get("BUILDCACHE_MAX_SIZE", DEFAULT_MAX_SIZE)
    origins.setdefault("BUILDCACHE_MAX_SIZE", "default")
    max_bytes = parse_cache_size(max_size, variable="BUILDCACHE_MAX_SIZE")

    disabled = parse_bool(raw.get("BUILDCACHE_DISABLE", ""), variable="BUILDCACHE_DISABLE")
    origins.setdefault("BUILDCACHE_DISABLE", "default")
    log = raw.get("BUILDCACHE_LOG", "")
    if log and log != "stderr" and not os.path.isabs(os.path.expanduser(log)):
        # A relative file would land in every rustc call's working directory.
        raise ConfigError("BUILDCACHE_LOG", log, "must be an absolute path or 'stderr'")
    log = os.path.expanduser(log) if log != "stderr" else log
    origins.setdefault("BUILDCACHE_LOG", "default")
    level = parse_compression_level(
        raw.get("BUILDCACHE_COMPRESSION_LEVEL", str(DEFAULT_COMPRESSION_LEVEL)),
        variable="BUILDCACHE_COMPRESSION_LEVEL",
    )
    origins.setdefault("BUILDCACHE_COMPRESSION_LEVEL", "default")
    return Config(cache_dir, max_bytes, disabled, log, origins, compression_level=level)

"""Effective configuration: environment > user config file > system config file > default.

Imported by the wrapper's hot path, so it uses only `os`. Every value is
parsed here and only here, so a bad value always produces the same error
naming its variable (ConfigError), whether the CLI or the wrapper reads it.

Config files hold `NAME = value` lines with the same names as the
environment variables; `#` at the start of a line or after a blank starts a
comment (so `/srv/c#/cache` keeps its `#`); quotes around a value are dropped.
Lines end at `\n` only, as they do where the file is written (the Ansible role).
Files exist for the consumers that do not see a shell's environment: cron, IDEs,
CI steps.
"""

from __future__ import annotations

import os

from buildcache.errors import ConfigError
from buildcache.sizes import parse_cache_size

DEFAULT_MAX_SIZE = "10G"
# zstd level 1, ccache's default: on a cold debug build of real crates.io dependencies it
# stored 3.6x less at 11 ms of CPU per entry, level 3 (sccache's) 4.0x for 17 ms (both
# before the long-distance matching of cache/store.py, which takes level 1 to 4.6x).
# Every miss pays it, so the cheaper level wins by default.
DEFAULT_COMPRESSION_LEVEL = 1
MAX_COMPRESSION_LEVEL = 19  # zstd's own command line wants --ultra above this
SYSTEM_CONFIG_FILE = "/etc/buildcache.conf"
VARIABLES = (
    "BUILDCACHE_DIR",
    "BUILDCACHE_MAX_SIZE",
    "BUILDCACHE_DISABLE",
    "BUILDCACHE_LOG",
    "BUILDCACHE_REMOTE",
    "BUILDCACHE_REMOTE_READ_ONLY",
    "BUILDCACHE_REMOTE_TIMEOUT",
    "BUILDCACHE_REMOTE_SIGNING_KEY",
    "BUILDCACHE_REMOTE_SIGNING_KEY_FILE",
    "BUILDCACHE_COMPRESSION_LEVEL",
    "BUILDCACHE_BACKGROUND_STORE",
)
# How long one wrapper call waits for the storage helper's answer, by default. A
# remote hit on loopback or a LAN takes milliseconds; a slow or dead remote must cost
# little, and after repeated failures it is skipped altogether (remote/breaker.py).
DEFAULT_REMOTE_TIMEOUT = "2"
# A guessable HMAC key protects nothing; 16 bytes is the floor `openssl rand -hex 16` gives.
MIN_SIGNING_KEY_BYTES = 16

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
        # utf-8-sig: an editor's byte order mark is not part of the first name
        # newline="": no '\r' becomes a line end; not splitlines(), which also splits
        # at U+2028, U+0085... inside a value. A CRLF's '\r' goes with the blanks.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            lines = handle.read().split("\n")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError("config file", path, f"cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError("config file", path, f"is not UTF-8 text ({error.reason})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = _without_comment(line).strip()
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


def _without_comment(line: str) -> str:
    for index, char in enumerate(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def user_config_file(environ: dict[str, str] | os._Environ[str]) -> str:
    if environ.get("BUILDCACHE_CONFIG"):
        return environ["BUILDCACHE_CONFIG"]
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(_home(environ), ".config")
    return os.path.join(base, "buildcache", "buildcache.conf")


def _home(environ: dict[str, str] | os._Environ[str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


class Config:
    """The effective configuration and, per variable, where its value came from."""

    __slots__ = (
        "cache_dir",
        "max_bytes",
        "disabled",
        "log",
        "compression_level",
        "background_store",
        "origins",
        "remotes",
        "remote_read_only",
        "remote_timeout",
        "signing_key",
    )

    def __init__(
        self,
        cache_dir: str,
        max_bytes: int,
        disabled: bool,
        log: str,
        origins: dict[str, str],
        *,
        remotes: tuple[str, ...] = (),
        remote_read_only: bool = False,
        remote_timeout: float = float(DEFAULT_REMOTE_TIMEOUT),
        signing_key: bytes | None = None,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        background_store: bool = True,
    ) -> None:
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        self.disabled = disabled
        self.log = log
        self.compression_level = compression_level  # 0: entries stored uncompressed
        # A miss's store may finish after the wrapper returned (wrapper/detached_store.py).
        self.background_store = background_store
        self.origins = origins
        self.remotes = remotes  # URLs with credentials: show them only through redact()
        self.remote_read_only = remote_read_only
        self.remote_timeout = remote_timeout
        self.signing_key = signing_key  # never shown anywhere


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
    for name, value in raw.items():
        if "\0" in value:  # a file can hold one; no path or word can
            raise ConfigError(name, value, "contains a NUL byte")

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
    remotes = _remotes(raw.get("BUILDCACHE_REMOTE", ""))
    read_only = parse_bool(
        raw.get("BUILDCACHE_REMOTE_READ_ONLY", ""), variable="BUILDCACHE_REMOTE_READ_ONLY"
    )
    timeout = _remote_timeout(raw.get("BUILDCACHE_REMOTE_TIMEOUT", DEFAULT_REMOTE_TIMEOUT))
    signing_key = _signing_key(raw)
    level = parse_compression_level(
        raw.get("BUILDCACHE_COMPRESSION_LEVEL", str(DEFAULT_COMPRESSION_LEVEL)),
        variable="BUILDCACHE_COMPRESSION_LEVEL",
    )
    background_store = parse_bool(
        raw.get("BUILDCACHE_BACKGROUND_STORE", "1"), variable="BUILDCACHE_BACKGROUND_STORE"
    )
    # Read by the launch client (launch/client.c) from the environment alone, before any
    # Python runs: checked here so that a word it does not know is an error naming it,
    # not a switch silently left on. Empty is the default, as for an unset variable.
    launch_server = environ.get("BUILDCACHE_LAUNCH_SERVER", "")
    if launch_server.strip():
        parse_bool(launch_server, variable="BUILDCACHE_LAUNCH_SERVER")
    for name in VARIABLES[4:]:
        origins.setdefault(name, "default")
    return Config(
        cache_dir,
        max_bytes,
        disabled,
        log,
        origins,
        remotes=remotes,
        remote_read_only=read_only,
        remote_timeout=timeout,
        signing_key=signing_key,
        compression_level=level,
        background_store=background_store,
    )


def _remotes(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    from buildcache.remote.urls import BadRemote, parse_tier, redact, split_remotes

    urls = split_remotes(text)
    for url in urls:
        try:
            parse_tier(url)
        except BadRemote as error:
            # The value shown is redacted: a password in the URL must not reach a log.
            shown = " ".join(redact(part) for part in urls)
            raise ConfigError("BUILDCACHE_REMOTE", shown, str(error)) from None
    return tuple(urls)


def _remote_timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise ConfigError(
            "BUILDCACHE_REMOTE_TIMEOUT", text, "expected seconds, more than 0 and at most 600"
        )
    return seconds


def _signing_key(raw: dict[str, str]) -> bytes | None:
    """The HMAC key from BUILDCACHE_REMOTE_SIGNING_KEY, or read from the file
    BUILDCACHE_REMOTE_SIGNING_KEY_FILE names. Errors never show the key."""
    key = raw.get("BUILDCACHE_REMOTE_SIGNING_KEY", "")
    path = raw.get("BUILDCACHE_REMOTE_SIGNING_KEY_FILE", "")
    if key and path:
        raise ConfigError(
            "BUILDCACHE_REMOTE_SIGNING_KEY_FILE", path, "set either it or the key, not both"
        )
    if path:
        try:
            with open(os.path.expanduser(path), "rb") as handle:
                key_bytes = handle.read().strip()
        except OSError as error:
            raise ConfigError(
                "BUILDCACHE_REMOTE_SIGNING_KEY_FILE", path, f"cannot be read ({error.strerror})"
            ) from None
        if len(key_bytes) < MIN_SIGNING_KEY_BYTES:
            raise ConfigError(
                "BUILDCACHE_REMOTE_SIGNING_KEY_FILE",
                path,
                f"holds a key shorter than {MIN_SIGNING_KEY_BYTES} bytes",
            )
        return key_bytes
    if key and len(key.encode()) < MIN_SIGNING_KEY_BYTES:
        raise ConfigError(
            "BUILDCACHE_REMOTE_SIGNING_KEY", "***", f"shorter than {MIN_SIGNING_KEY_BYTES} bytes"
        )
    return key.encode() if key else None

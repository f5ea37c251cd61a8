"""Sizes for people: '10G' in, '1.5 GiB' out. The one parser of sizes: the CLI, the
wrapper's config and the Ansible role's argument check (a filter plugin that imports
this module) all accept and reject the same texts."""

from __future__ import annotations

from buildcache.errors import ConfigError

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# Smaller caps would evict an entry right after storing it.
MIN_CACHE_SIZE = 1 << 20


def parse_size(text: str, *, variable: str = "size") -> int:
    """'10G' -> bytes. Units are powers of 1024; 'B'/'iB' after the unit are accepted."""
    raw = text.strip().upper()
    for suffix in ("IB", "B"):
        if raw.endswith(suffix) and len(raw) > len(suffix) and raw[-len(suffix) - 1] in "KMGT":
            raw = raw[: -len(suffix)]
            break
    unit = raw[-1:] if raw[-1:] in "KMGT" else ""
    number = raw[: len(raw) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not number or value < 0 or value != value or value == float("inf"):
        raise ConfigError(
            variable, text, "expected a size such as 500M, 10G or 1T (units K, M, G, T)"
        )
    return int(value * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """Bytes -> '1.5 GiB' for people."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def parse_cache_size(text: str, *, variable: str) -> int:
    """A size cap for the cache: a size of at least 1M."""
    size = parse_size(text, variable=variable)
    if size < MIN_CACHE_SIZE:
        raise ConfigError(variable, text, "must be at least 1M")
    return size

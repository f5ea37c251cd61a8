"""Sizes for people: '10G' in, '1.5 GiB' out. The one parser of sizes: the CLI, the
wrapper's config and the Ansible role's argument check (a filter plugin that imports
this module) all accept and reject the same texts."""

from __future__ import annotations

from buildcache.errors import ConfigError

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_UNIT_LETTERS = frozenset("KMGT")
# Smaller caps would evict an entry right after storing it.
MIN_CACHE_SIZE = 1 << 20


def parse_size(text: str, *, variable: str = "size") -> int:
    """'10G' -> bytes. Units are powers of 1024; 'B' may follow a number or a unit and
    'iB' a unit, so what format_size prints ('100 B', '1.5 GiB') reads back."""
    raw = text.strip().upper()
    if raw.endswith("IB") and raw[-3:-2] in _UNIT_LETTERS:
        raw = raw[:-2]
    elif raw.endswith("B"):
        raw = raw[:-1]
    unit = raw[-1:] if raw[-1:] in _UNIT_LETTERS else ""
    number = raw[: len(raw) - len(unit)]
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except ValueError:
        size = -1.0
    # A finite number can still overflow once multiplied by its unit (1e308G).
    if not number or not 0 <= size < float("inf"):
        raise ConfigError(
            variable, text, "expected a size such as 500M, 10G or 1T (units K, M, G, T)"
        )
    return int(size)


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

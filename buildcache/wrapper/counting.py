"""Counting one wrapper call in the cache's stats, best effort."""

from __future__ import annotations

import os

from buildcache.cache import counters
from buildcache.cache.file_digests import WRITTEN

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from buildcache.config import Config


def count_call(config: Config, key: str | None, deltas: dict[str, int]) -> dict[str, int] | None:
    """Add deltas to the shard of key (any shard without one), plus the digest records
    this process wrote. A stats failure must not turn into a build failure."""
    # A key's shard is its first hex digit (store.shard_of, not imported for it: calls
    # that compile nothing are counted without loading the store).
    shard = key[0] if key else counters.SHARDS[os.getpid() % len(counters.SHARDS)]
    deltas = {**deltas, "bytes": deltas.get("bytes", 0) + WRITTEN[0]}
    deltas["files"] = deltas.get("files", 0) + WRITTEN[1]
    WRITTEN[0] = WRITTEN[1] = 0
    try:
        return counters.update_shard(
            config.cache_dir, shard, {k: v for k, v in deltas.items() if v}
        )
    except Exception:  # noqa: BLE001
        return None

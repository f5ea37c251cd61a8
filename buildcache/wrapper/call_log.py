"""BUILDCACHE_LOG: one tab-separated line per wrapper call, for people and `make bench`.

`BUILDCACHE_LOG=/path/file` appends to the file; `BUILDCACHE_LOG=stderr` writes to
stderr. Fields after the timestamp are key=value: pid, crate, result (hit, miss,
compile_failed, non_cacheable, error, disabled), wall_ms, and a free-form detail when there is one.
Logging never raises: a log that cannot be written is silently skipped.
"""

from __future__ import annotations

import os
import sys
import time


def log_call(target: str, crate: str, result: str, wall_ms: float, detail: str = "") -> None:
    if not target:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    fields = [
        stamp,
        f"pid={os.getpid()}",
        f"crate={crate}",
        f"result={result}",
        f"wall_ms={wall_ms:.1f}",
    ]
    if detail:
        fields.append("detail=" + detail.replace("\t", " ").replace("\n", " | "))
    line = "\t".join(fields) + "\n"
    try:
        if target == "stderr":
            sys.stderr.write("buildcache: " + line)
            sys.stderr.flush()
        else:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(line)
    except Exception:  # noqa: BLE001 - logging must never break a build
        pass

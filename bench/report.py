"""Turn the harness's measurements into the printed table and the JSON file."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

# scenario -> how the table names it
SCENARIO_LABELS = {
    "cold-incr-off": "cold, CARGO_INCREMENTAL=0",
    "cold-dev": "cold, dev profile (fills cache)",
    "warm-incr-off": "warm, CARGO_INCREMENTAL=0",
    "warm-dev": "warm, dev profile",
    "cold-remote-down": "cold, CARGO_INCREMENTAL=0, remote down",
}
TOOL_LABELS = {"none": "no wrapper", "buildcache": "buildcache", "sccache": "sccache"}
# With nothing cached, a "warm" dev-profile rebuild is a full build.
ROW_LABELS = {"warm-dev/none": "no cache"}
# Remote scenarios are `cold-to-<tier>` and `warm-from-<tier>`; the tier's name comes
# from results["remotes"].
COLD_TO, WARM_FROM = "cold-to-", "warm-from-"


def scenario_label(scenario: str, remotes: dict[str, str]) -> str:
    if scenario.startswith(COLD_TO):
        tier = scenario.removeprefix(COLD_TO)
        return f"cold, CARGO_INCREMENTAL=0, fills {remotes.get(tier, tier)}"
    if scenario.startswith(WARM_FROM):
        tier = scenario.removeprefix(WARM_FROM)
        return f"warm from {remotes.get(tier, tier)}, local cache empty"
    return SCENARIO_LABELS.get(scenario, scenario)


# (name, numerator config, denominator config, done-when limit, goal) from issue 3.
# In the warm dev-profile scenario the "none" build has no cache to be warm
# with: it is the full build a developer waits for without one.
RATIOS = (
    # Issue 13 tightened issue 3's 1.10 / 1.03.
    ("cold: buildcache / no wrapper", "cold-incr-off/buildcache", "cold-incr-off/none", 1.04, 1.02),
    ("cold: sccache / no wrapper", "cold-incr-off/sccache", "cold-incr-off/none", None, None),
    (
        "warm incr-off: buildcache / sccache",
        "warm-incr-off/buildcache",
        "warm-incr-off/sccache",
        1.00,
        0.60,
    ),
    ("warm dev: buildcache / no cache", "warm-dev/buildcache", "warm-dev/none", None, None),
    ("cold dev: buildcache / no wrapper", "cold-dev/buildcache", "warm-dev/none", None, None),
    # Issue 12: a remote that is down costs a build at most 10%.
    (
        "cold, remote down / cold: buildcache",
        "cold-remote-down/buildcache",
        "cold-incr-off/buildcache",
        1.10,
        None,
    ),
    # Issue 12: the warm build from Redis, local tier empty, CARGO_INCREMENTAL=0.
    (
        "warm from Redis: buildcache / sccache",
        "warm-from-redis/buildcache",
        "warm-from-redis/sccache",
        1.00,
        0.50,
    ),
    (
        "warm from Redis / warm local: buildcache",
        "warm-from-redis/buildcache",
        "warm-incr-off/buildcache",
        None,
        None,
    ),
    (
        "warm from HTTP / warm local: buildcache",
        "warm-from-http/buildcache",
        "warm-incr-off/buildcache",
        None,
        None,
    ),
    (
        "warm from S3 / warm local: buildcache",
        "warm-from-s3/buildcache",
        "warm-incr-off/buildcache",
        None,
        None,
    ),
    (
        "warm from S3: buildcache / sccache",
        "warm-from-s3/buildcache",
        "warm-from-s3/sccache",
        None,
        None,
    ),
    (
        "cold to Redis: buildcache / no wrapper",
        "cold-to-redis/buildcache",
        "cold-incr-off/none",
        None,
        None,
    ),
    (
        "cold to Redis: sccache / no wrapper",
        "cold-to-redis/sccache",
        "cold-incr-off/none",
        None,
        None,
    ),
)


def log_calls(log_path: Path) -> list[dict[str, str]]:
    """The calls a BUILDCACHE_LOG file records, one dict of fields per line.

    Lines look like `<timestamp>\\tpid=1\\tcrate=serde\\tresult=hit\\twall_ms=12.3`
    (maybe with `detail=...`); anything else in the file (warnings,
    tracebacks) is skipped.
    """
    if not log_path.exists():
        return []
    calls = []
    for line in log_path.read_text(errors="replace").splitlines():
        fields = dict(part.split("=", 1) for part in line.split("\t")[1:] if "=" in part)
        if "result" in fields:
            calls.append(fields)
    return calls


def hit_wall_ms(calls: list[dict[str, str]]) -> list[float]:
    values = []
    for fields in calls:
        if fields["result"] != "hit":
            continue
        try:
            values.append(float(fields["wall_ms"]))
        except (KeyError, ValueError):
            continue
    return values


def missed_crates(calls: list[dict[str, str]]) -> list[str]:
    """`crate (detail)` for each miss, to say why a warm build was not all hits."""
    return [
        f"{fields.get('crate', '?')} ({fields.get('detail', 'no detail')})"
        for fields in calls
        if fields["result"] == "miss"
    ]


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def per_run_ratio(top: list[dict[str, Any]], bottom: list[dict[str, Any]]) -> float | None:
    """The median of the ratios within each repetition. Repetitions are interleaved,
    so a machine that drifts (other tenants, thermal limits: the no-wrapper cold build
    ranged from 28 to 35 s within one hour here) slows both builds of a repetition
    alike; the ratio of medians can pair a fast run of one with a slow run of the
    other. None without two or more repetitions that have both."""
    below = {run.get("rep"): run["seconds"] for run in bottom}
    pairs = [run["seconds"] / below[run.get("rep")] for run in top if below.get(run.get("rep"))]
    return statistics.median(pairs) if len(pairs) >= 2 else None


def summarize(results: dict[str, Any]) -> None:
    """Add medians, ratios and per-hit figures to `results` in place."""
    configs = results["configs"]
    for config in configs.values():
        config["median_seconds"] = median_or_none([run["seconds"] for run in config["runs"]])

    ratios = {}
    for name, numerator, denominator, limit, goal in RATIOS:
        if numerator not in configs or denominator not in configs:
            continue
        top = configs[numerator]["median_seconds"]
        bottom = configs[denominator]["median_seconds"]
        value = top / bottom if top is not None and bottom else None
        ratios[name] = {
            "value": value,
            "per_run": per_run_ratio(configs[numerator]["runs"], configs[denominator]["runs"]),
            "numerator": numerator,
            "denominator": denominator,
            "done_when_at_most": limit,
            "goal_at_most": goal,
        }
    results["ratios"] = ratios

    per_hit: dict[str, Any] = {}
    logged_keys = ["warm-incr-off/buildcache", "warm-dev/buildcache"] + [
        key for key in configs if key.startswith(WARM_FROM) and key.endswith("/buildcache")
    ]
    for key in logged_keys:
        if key in configs:
            samples = [ms for run in configs[key]["runs"] for ms in run.get("hit_wall_ms", [])]
            per_hit[key] = {
                "source": "BUILDCACHE_LOG wall_ms of result=hit lines",
                "hits_logged": len(samples),
                "median_ms": median_or_none(samples),
            }
    for key in ("warm-incr-off/buildcache", "warm-incr-off/sccache"):
        if key in configs:
            approx = [
                run["seconds"] * 1000 / run["stats"]["hits"]
                for run in configs[key]["runs"]
                if run.get("stats") and run["stats"]["hits"]
            ]
            per_hit[key + " (approx)"] = {
                "source": "warm build wall time / hits (an upper bound: includes cargo's "
                "own work, build-script runs and linking)",
                "median_ms": median_or_none(approx),
            }
    if "warm-incr-off/sccache" in configs:
        server_side = [
            run["stats"]["read_hit_seconds"] * 1000 / run["stats"]["hits"]
            for run in configs["warm-incr-off/sccache"]["runs"]
            if run.get("stats") and run["stats"]["hits"]
        ]
        per_hit["warm-incr-off/sccache (server read)"] = {
            "source": "sccache cache_read_hit_duration / hits (server-side read only, "
            "not the client's wall time)",
            "median_ms": median_or_none(server_side),
        }
    per_call = results.get("per_call") or {}
    for tool, milliseconds in (results.get("call_overhead_ms") or {}).items():
        rounds = per_call.get(tool, {}).get("rounds")
        per_hit[f"{tool} fixed cost per call"] = {
            "source": f"`{tool} rustc -vV` minus `rustc -vV`"
            + (f" (median of {rounds})" if rounds else "")
            + ": process start-up and hand-over, which a wrapper's own timer cannot see",
            "median_ms": milliseconds,
        }
    logged = per_hit.get("warm-incr-off/buildcache", {}).get("median_ms")
    fixed = (results.get("call_overhead_ms") or {}).get("buildcache")
    if logged is not None and fixed is not None:
        per_hit["buildcache end-to-end per hit (estimate)"] = {
            "source": "logged wall_ms per hit + fixed cost per call",
            "median_ms": logged + fixed,
        }
    for tool, figure in per_call.items():
        per_hit[f"{tool} end-to-end per hit (measured)"] = {
            "source": f"`{tool} rustc ARGS` of a probe crate ({figure['probe_entry_bytes'] >> 10} "
            f"KiB of outputs), every call a hit, wall time from outside (median of "
            f"{figure['rounds']})",
            "median_ms": figure["hit_ms"],
        }
    results["per_hit"] = per_hit

    cache_size = {}
    for key, config in configs.items():
        runs = [run for run in config["runs"] if "cache_bytes" in run]
        if runs:
            cache_size[key] = {
                "median_bytes": median_or_none([run["cache_bytes"] for run in runs]),
                "median_disk_bytes": median_or_none([run["cache_disk_bytes"] for run in runs]),
                "median_files": median_or_none([run["cache_files"] for run in runs]),
            }
    results["cache_size"] = cache_size

    remote_size = {}
    for key, config in configs.items():
        runs = [run for run in config["runs"] if "remote_bytes" in run]
        if runs:
            remote_size[key] = {
                "median_bytes": median_or_none([run["remote_bytes"] for run in runs]),
                "median_entries": median_or_none([run["remote_entries"] for run in runs]),
            }
    results["remote_size"] = remote_size
    ours, theirs = (
        cache_size.get("cold-incr-off/buildcache"),
        cache_size.get("cold-incr-off/sccache"),
    )
    if ours and theirs:
        ratios["cache bytes: buildcache / sccache"] = {
            "value": ours["median_bytes"] / theirs["median_bytes"]
            if theirs["median_bytes"]
            else None,
            "numerator": "cold-incr-off/buildcache",
            "denominator": "cold-incr-off/sccache",
            "done_when_at_most": None,
            "goal_at_most": None,
        }


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _mib(value: float | None) -> str:
    return _fmt(None if value is None else value / (1 << 20), ".1f")


def _hits(run: dict[str, Any]) -> str:
    """hits/misses/requests; with a remote tier, buildcache's hits read `84r` (all 84
    from the remote) or `80r+4` (80 from the remote, 4 from the local tier)."""
    stats = run.get("stats")
    if not stats:
        return "-"
    hits = str(stats["hits"])
    if stats.get("remote_hits"):
        local = stats.get("local_hits", 0)
        hits = f"{stats['remote_hits']}r" + (f"+{local}" if local else "")
    return f"{hits}/{stats['misses']}/{stats['requests']}"


def format_table(results: dict[str, Any]) -> str:
    workspace = results["workspace"]
    lines = [
        f"buildcache bench: {workspace['kind']} workspace, {workspace['packages']} packages, "
        f"{results['runs']} run(s) each, interleaved; cargo jobs: {results['jobs'] or 'default'}",
        "",
    ]
    if not results["configs"]:
        lines = ["buildcache bench: per-call figures only (--per-call-only, no builds)"]
    header = ("scenario", "tool", "median s", "each run (s)", "hits/misses/requests per run")
    rows = [header] if results["configs"] else []
    remotes = results.get("remotes") or {}
    for key, config in results["configs"].items():
        runs = config["runs"]
        rows.append(
            (
                scenario_label(config["scenario"], remotes),
                ROW_LABELS.get(key, TOOL_LABELS.get(config["tool"], config["tool"])),
                _fmt(config["median_seconds"], ".2f"),
                " ".join(f"{run['seconds']:.2f}" for run in runs),
                " ".join(_hits(run) for run in runs) if config["tool"] != "none" else "-",
            )
        )
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(len(header))]
    for row in rows:
        cells = [
            cell.rjust(width) if index == 2 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())

    if results["ratios"]:
        lines += ["", "ratios of medians (lower is better for the first tool)"]
        for name, ratio in results["ratios"].items():
            text = f"  {name:<41} {_fmt(ratio['value'], '.3f')}"
            if ratio.get("per_run") is not None:
                text += f"   (per repetition {ratio['per_run']:.3f})"
            if ratio["done_when_at_most"] is not None:
                meets = (
                    "n/a"
                    if ratio["value"] is None
                    else "yes"
                    if ratio["value"] <= ratio["done_when_at_most"]
                    else "NO"
                )
                goal = ratio["goal_at_most"]
                text += f"   (done when <= {ratio['done_when_at_most']:.2f}"
                text += f", goal <= {goal:.2f}" if goal is not None else ""
                text += f"; meets done-when: {meets})"
            lines.append(text)

    if results["per_hit"]:
        lines += ["", "wrapper time per cache hit (median)"]
        for name, figure in results["per_hit"].items():
            count = f", {figure['hits_logged']} hits" if "hits_logged" in figure else ""
            lines.append(f"  {name:<42} {_fmt(figure['median_ms'], '.1f')} ms{count}")
            lines.append(f"      {figure['source']}")

    if results.get("cache_size"):
        lines += ["", "cache after the cold build (median; what the next warm build reads)"]
        for key, size in results["cache_size"].items():
            lines.append(
                f"  {key:<42} {_mib(size['median_bytes'])} MiB in files, "
                f"{_mib(size['median_disk_bytes'])} MiB on disk, "
                f"{_fmt(size['median_files'], '.0f')} files"
            )

    if results.get("remote_size"):
        lines += ["", "remote tier after the cold build (median; what the warm build reads)"]
        for key, size in results["remote_size"].items():
            lines.append(
                f"  {key:<42} {_mib(size['median_bytes'])} MiB in values, "
                f"{_fmt(size['median_entries'], '.0f')} entries"
            )

    warnings = results.get("warnings") or []
    if warnings:
        lines += ["", "warnings"] + [f"  ! {warning}" for warning in warnings]
    return "\n".join(lines) + "\n"

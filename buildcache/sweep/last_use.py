"""When was each unit last used by a build? The signal sweep decides on.

What cargo leaves behind, measured with cargo 1.95 (see the README) and again with
1.97 nightly's new build-dir layout, where the same files sit in a unit's own
`build/<pkg>/<hash>/fingerprint/` and a build script's `output` is `run/stdout`:
- a unit cargo (re)builds gets fresh mtimes on its fingerprint files and outputs;
- a *fresh* unit is only read: cargo reads the fingerprint hash file, the
  dep-info and the saved output of every unit of the build, and a build
  script's `output`. It writes nothing (`-Zmtime-on-use`, which would touch
  them, is nightly-only), so the atime of those files is the only trace.
- atime is unreliable on its own (cargo-sweep's long-standing bug reports):
  `relatime`, Linux's default, updates it at most once a day, so it is good to
  a day; `noatime` never updates it; backups and `grep -r` may bump it.

So a unit's own time is the newest of its mtimes and the atimes of the files a
fresh build reads. Two facts about cargo then fill the gaps atime leaves:
1. cargo checks the fingerprint of every dependency of a unit it checks, so
   a dependency was used whenever a unit depending on it was. The fingerprint
   JSON lists each dependency's fingerprint, which is the text of that
   dependency's hash file, so the graph is exact and a unit's time flows down to
   everything it depends on.
2. The files uplifted into a profile dir (`debug/app`, `debug/libfoo.rlib`) are
   hardlinks to what the newest build of each target produced (in `deps/`, or
   in a unit's `out/` in the new layout). Those units
   and all their dependencies were part of the current state of that profile,
   so they count as used as recently as anything else in it. On a `noatime`
   mount this is what keeps a fresh-but-old binary and its crates alive.
"""

from __future__ import annotations

from pathlib import Path

from buildcache.sweep.build_units import Unit


def own_time(unit: Unit) -> float:
    return max(unit.built_at, unit.read_at)


def last_used(units: list[Unit]) -> dict[int, float]:
    """id(unit) -> the newest time any build used it, following the rules above."""
    times = {id(unit): own_time(unit) for unit in units}
    newest_in_profile: dict[Path, float] = {}
    for unit in units:
        newest = max(newest_in_profile.get(unit.profile, 0.0), times[id(unit)])
        newest_in_profile[unit.profile] = newest
    for unit in units:
        if unit.uplifted:
            times[id(unit)] = max(times[id(unit)], newest_in_profile[unit.profile])

    by_fingerprint: dict[str, list[Unit]] = {}
    for unit in units:
        for fingerprint in unit.fingerprints:
            by_fingerprint.setdefault(fingerprint, []).append(unit)
    # Push each unit's time down to its dependencies, newest first, so a unit
    # is only descended from again when a newer time raises it.
    for unit in sorted(units, key=lambda unit: times[id(unit)], reverse=True):
        pending = [unit]
        while pending:
            current = pending.pop()
            for fingerprint in current.dep_fingerprints:
                for dep in by_fingerprint.get(fingerprint, ()):
                    if times[id(dep)] < times[id(current)]:
                        times[id(dep)] = times[id(current)]
                        pending.append(dep)
    return times

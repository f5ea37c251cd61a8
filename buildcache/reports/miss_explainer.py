"""Why did a crate miss? Compare a stored compile's inputs with the nearest earlier one.

Reads the per-crate journals written by the wrapper (inputs_journal.py). Every
stored miss has a record of its full inputs, so the answer is an exact list of
the inputs that differ, not a guess. "Nearest" is the earlier record of the same
crate with the fewest differences (the most recent one on a tie).
"""

from __future__ import annotations

import os

from buildcache.cache.journal import read_journal

Record = dict[str, object]
Difference = dict[str, object]


def _pairs(value: object) -> dict[str, object]:
    """[(name, value), ...] or ['NAME=value', ...] as a dict."""
    result: dict[str, object] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            result[str(item[0])] = item[1]
        elif isinstance(item, str):
            name, _, rest = item.partition("=")
            result[name] = rest
    return result


def _inputs(record: Record) -> dict[str, object]:
    inputs = record.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _diff_named(kind: str, old: dict[str, object], new: dict[str, object]) -> list[Difference]:
    found: list[Difference] = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            found.append({"kind": kind, "name": name, "change": "added", "new": new[name]})
        elif name not in new:
            found.append({"kind": kind, "name": name, "change": "removed", "old": old[name]})
        elif old[name] != new[name]:
            found.append(
                {
                    "kind": kind,
                    "name": name,
                    "change": "changed",
                    "old": old[name],
                    "new": new[name],
                }
            )
    return found


def _diff_args(old: object, new: object) -> list[Difference]:
    old_list = [str(a) for a in old] if isinstance(old, list) else []
    new_list = [str(a) for a in new] if isinstance(new, list) else []
    if old_list == new_list:
        return []
    found: list[Difference] = [
        {"kind": "argument", "name": arg, "change": "removed"}
        for arg in old_list
        if arg not in new_list
    ]
    found += [
        {"kind": "argument", "name": arg, "change": "added"}
        for arg in new_list
        if arg not in old_list
    ]
    return found or [{"kind": "argument", "name": "order of arguments", "change": "changed"}]


def differences(old: Record, new: Record) -> list[Difference]:
    """Every input that differs between two records of the same crate."""
    old_in, new_in = _inputs(old), _inputs(new)
    found: list[Difference] = []
    if old_in.get("rustc") != new_in.get("rustc"):
        found.append({"kind": "rustc", "name": "rustc -vV / sysroot", "change": "changed"})
    found += _diff_args(old_in.get("args"), new_in.get("args"))
    if old_in.get("cwd") != new_in.get("cwd"):
        # Records of crates without dependencies written before it was keyed lack it.
        change = "changed" if "cwd" in old_in else "added"
        found.append(
            {
                "kind": "cwd",
                "name": "working directory",
                "change": change,
                "old": old_in.get("cwd"),
                "new": new_in.get("cwd"),
            }
        )
    found += _diff_named("source", _pairs(old.get("files")), _pairs(new.get("files")))
    found += _diff_named("env", _pairs(old.get("env_deps")), _pairs(new.get("env_deps")))
    found += _diff_named("env", _pairs(old_in.get("env")), _pairs(new_in.get("env")))
    found += _diff_named("extern", _pairs(old_in.get("externs")), _pairs(new_in.get("externs")))
    found += _diff_named(
        "native library", _pairs(old_in.get("native")), _pairs(new_in.get("native"))
    )
    found += _c_family_differences(old_in, new_in)
    for name in ("linker", "link_env"):
        if old_in.get(name) != new_in.get(name):
            found.append({"kind": "linker", "name": name, "change": "changed"})
    for item in found:  # digests mean nothing to a reader: say "content changed" instead
        if item["kind"] in ("source", "extern", "native library") and item["change"] == "changed":
            item.pop("old", None)
            item.pop("new", None)
    return found


def _c_family_differences(old: dict[str, object], new: dict[str, object]) -> list[Difference]:
    """The inputs only a C/C++ object compile has (c_family/compile.py)."""
    found: list[Difference] = []
    if old.get("driver_plan") != new.get("driver_plan"):  # the programs it runs, by content
        found.append({"kind": "compiler", "name": "C/C++ compiler", "change": "changed"})
    if old.get("preprocessed") != new.get("preprocessed"):
        name = f"{new.get('source')} after preprocessing (the source or a header it includes)"
        found.append({"kind": "source", "name": name, "change": "changed"})
    return found


def _record_time(record: Record) -> float:
    value = record.get("time", 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def explain_crate(cache_dir: str, crate: str, *, limit: int = 1) -> list[dict[str, object]]:
    """For the newest `limit` misses of crate: what differed from the nearest earlier entry."""
    records = sorted(read_journal(cache_dir, crate), key=_record_time, reverse=True)
    answers = []
    for index, record in enumerate(records[:limit]):
        earlier = records[index + 1 :]
        answer: dict[str, object] = {
            "crate": crate,
            "time": record.get("time"),
            "key": record.get("key"),
            "cwd": record.get("cwd"),
        }
        if not earlier:
            answer.update(compared_to=None, differences=[], first_build=True)
        else:
            scored = [(len(differences(old, record)), -i, old) for i, old in enumerate(earlier)]
            _, _, nearest = min(scored, key=lambda s: (s[0], -s[1]))
            answer.update(
                compared_to={"time": nearest.get("time"), "key": nearest.get("key")},
                differences=differences(nearest, record),
                first_build=False,
            )
        answers.append(answer)
    return answers


def crates_by_recent_miss(cache_dir: str) -> list[str]:
    directory = os.path.join(cache_dir, "crates")
    try:
        names = [n[: -len(".journal")] for n in os.listdir(directory) if n.endswith(".journal")]
    except FileNotFoundError:
        return []

    def newest(crate: str) -> float:
        return max((_record_time(r) for r in read_journal(cache_dir, crate)), default=0.0)

    return sorted(names, key=newest, reverse=True)

"""What a scenario found, and how to say it: differences, reproduction commands, statistics."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .edits import Step
    from .generator import Spec

# The counters of `buildcache stats --json` summed over scenarios.
STAT_KEYS = ("requests", "hits", "misses", "errors", "not_stored", "compile_failed", "corrupt")


class Difference(Exception):
    """A cached build did not behave like the uncached one."""

    def __init__(
        self,
        checkout: str,
        root: Path,
        item: str,
        expected: tuple[int, str],
        got: tuple[int, str] | None,
        cached_stderr: dict[str, str],
    ) -> None:
        super().__init__(f"{item} differs in checkout {checkout}")
        self.checkout = checkout
        self.root = root
        self.item = item
        self.expected = expected
        self.got = got
        self.cached_stderr = cached_stderr

    def explain(self) -> str:
        if self.got is None:
            return f"`{self.item}` did not run with the cache (the cached build failed)"
        (want_code, want), (got_code, got) = self.expected, self.got
        lines = [f"`{self.item}`: exit code {got_code} cached, {want_code} uncached"]
        if self.item == "cargo build" and got_code != want_code:
            tail = self.cached_stderr.get("cargo build", "").strip().splitlines()[-15:]
            lines += ["cached build's stderr (last lines):", *(f"  | {line}" for line in tail)]
        diff = difflib.unified_diff(
            want.splitlines(), got.splitlines(), "uncached", "cached", lineterm="", n=1
        )
        lines += [f"  {line}" for line in diff]
        return "\n".join(lines)


@dataclass
class Failure:
    seed: int
    step: int  # index of the step after which the outputs differed
    steps: list[Step]
    skip: frozenset[str]
    spec: Spec
    workdir: Path
    difference: Difference

    @property
    def reproduce(self) -> str:
        skip = "".join(f" --skip {kind}" for kind in sorted(self.skip))
        steps = min(self.step + 1, len(self.steps))
        clean = ""
        if self.step == len(self.steps) - 1 and self.steps[-1].kind == "clean":
            steps, clean = self.step, " --end-with-clean"  # the step CI appends
        return f"python -m tests.differential --seed {self.seed} --steps {steps}{skip}{clean}"

    def summary(self) -> str:
        step = self.steps[self.step]
        return (
            f"seed {self.seed} step {self.step} ({step.kind}): `{self.difference.item}` "
            f"differs in checkout {self.difference.checkout}"
        )

    def report(self) -> str:
        steps = "\n".join(
            f"    {i}: {s.describe()}" for i, s in enumerate(self.steps[: self.step + 1])
        )
        return (
            f"buildcache differs from an uncached build: seed {self.seed}, step {self.step}\n"
            f"  workspace: {self.workdir} (checkout {self.difference.checkout}: "
            f"{self.difference.root})\n"
            f"  crates: {self.spec.describe()}\n"
            f"  steps so far:\n{steps}\n"
            f"  what differed:\n{_indent(self.difference.explain(), 4)}\n"
            f"  reproduce: {self.reproduce}"
        )


@dataclass
class ScenarioResult:
    seed: int
    steps_run: int
    cached_builds: int
    stats: dict[str, int]
    failure: Failure | None
    workdir: Path
    seconds: float


# Results of the scenarios a pytest session ran, for conftest.py's end-of-run summary.
COLLECTED: list[ScenarioResult] = []


def totals(results: list[ScenarioResult]) -> dict[str, int]:
    summed = {
        "scenarios": len(results),
        "steps": sum(r.steps_run for r in results),
        "cached_builds": sum(r.cached_builds for r in results),
        "differences": sum(1 for r in results if r.failure),
    }
    for key in STAT_KEYS:
        summed[key] = sum(int(r.stats.get(key, 0)) for r in results)
        summed[f"c_{key}"] = sum(int(_c_cxx(r.stats).get(key, 0)) for r in results)
    return summed


def _c_cxx(stats: Mapping[str, object]) -> dict[str, int]:
    """`stats --json`'s C/C++ section (the compiles cc-rs sends through the wrapper)."""
    section = stats.get("c_cxx")
    return section if isinstance(section, dict) else {}


def format_totals(results: list[ScenarioResult]) -> str:
    counts = totals(results)
    seconds = sum(r.seconds for r in results)
    lines = [
        f"differential: {counts['scenarios']} scenarios, {counts['steps']} steps, "
        f"{counts['cached_builds']} cached cargo builds in {seconds:.0f}s",
        "  buildcache: " + ", ".join(f"{key} {counts[key]}" for key in STAT_KEYS),
        "  C/C++ (cc-rs): " + ", ".join(f"{key} {counts['c_' + key]}" for key in STAT_KEYS[:5]),
        f"  differences: {counts['differences']}",
    ]
    lines += [f"    {r.failure.summary()}  ->  {r.failure.reproduce}" for r in results if r.failure]
    return "\n".join(lines)


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())

"""The random sequence of steps of a scenario: edits, build settings, cache and target-dir events.

`plan(spec, steps)` draws the whole sequence up front from the seed, by simulating the
steps on a `State` (params and build settings) without building anything, so the same
seed always gives the same steps and `--steps K` gives a prefix of a longer run.
The runner replays the steps with `apply`, the same function the planner used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from .generator import FEATURE_SETS, WORDS, Params, Spec, initial_params, param_file

# Extra checkouts of the same tree, each at its own path with its own target dirs.
OTHER_CHECKOUTS = ("b", "c")


@dataclass
class State:
    """What the tree and the cargo command line are after some steps."""

    params: Params
    history: dict[str, list[object]]  # every value each param has had, oldest first
    release: bool = False
    features: tuple[str, ...] = ()
    incremental: str = "default"  # CARGO_INCREMENTAL: "default" (unset), "0" or "1"
    checkouts: list[str] = field(default_factory=lambda: ["a"])
    skip: frozenset[str] = frozenset()  # edits left out of the plan (--skip)

    def cargo_flags(self) -> list[str]:
        flags = ["--release"] if self.release else []
        return flags + (["--features", ",".join(self.features)] if self.features else [])


@dataclass(frozen=True)
class Step:
    kind: str
    changes: tuple[tuple[str, object], ...] = ()  # params set by this step
    keep_mtime: bool = False  # files changed keep their old mtime (cp -p style)
    builds: tuple[str, ...] = ("a",)  # checkouts built (and compared) after the step
    concurrent: bool = False  # the cached builds of `builds` run at the same time
    release: bool | None = None
    features: tuple[str, ...] | None = None
    incremental: str | None = None
    evict: tuple[float, int] | None = None  # (fraction of cache files, selection seed)
    clean: str | None = None  # "cargo clean" or "empty": both target dirs of `builds`
    swap: tuple[str, object] | None = None  # (param, value rustc reads before the swap)

    def describe(self) -> str:
        parts = [self.kind]
        if self.swap:
            parts.append(f"compile {self.swap[0]}={self.swap[1]!r}, swapped mid-compile to")
        parts += [f"{name}={value!r}" for name, value in self.changes]
        if self.keep_mtime:
            parts.append("(mtime kept)")
        if self.release is not None:
            parts.append("--release" if self.release else "dev profile")
        if self.features is not None:
            parts.append(f"--features {','.join(self.features) or '(none)'}")
        if self.incremental is not None:
            parts.append(f"CARGO_INCREMENTAL={self.incremental}")
        if self.evict:
            parts.append(f"{self.evict[0]:.0%} of cache files (selection seed {self.evict[1]})")
        if self.clean:
            parts.append(self.clean)
        together = " concurrently" if self.concurrent else ""
        parts.append(f"-> build {'+'.join(self.builds)}{together}")
        return " ".join(parts)


def initial_state(spec: Spec) -> State:
    params = initial_params(spec)
    return State(params, {name: [value] for name, value in params.items()})


def apply(state: State, step: Step) -> None:
    """Update the state as the step does (the runner then makes the disk match)."""
    for name, value in step.changes:
        state.params[name] = value
        state.history[name].append(value)
    if step.swap:
        state.history[step.swap[0]].insert(-1, step.swap[1])
    if step.release is not None:
        state.release = step.release
    if step.features is not None:
        state.features = step.features
    if step.incremental is not None:
        state.incremental = step.incremental
    for checkout in step.builds:
        if checkout not in state.checkouts:
            state.checkouts.append(checkout)


# --- the edits: each returns a Step, or None when it does not apply to this state ---


def _fresh_int(state: State, param: str, rng: random.Random) -> int:
    """A value this param never had, so the compile that follows cannot be a hit."""
    seen = set(state.history[param])
    while True:
        value = rng.randint(1, 999)
        if value not in seen:
            return value


def _params_named(state: State, suffix: str) -> list[str]:
    return sorted(name for name in state.params if name.endswith(suffix))


def lib_value(spec: Spec, state: State, rng: random.Random) -> Step | None:
    param = rng.choice([name for name in _params_named(state, ".base") if name != "pmac.base"])
    return Step("lib_value", ((param, _fresh_int(state, param, rng)),))


def param_kind(name: str) -> str:
    """The edit that changes this param (so skipping an edit also skips its reverts)."""
    owner, _, what = name.partition(".")
    if owner.startswith("nat_"):
        return "c_source"
    if owner == "pmac" and what == "base":
        return "proc_macro"
    return {
        "base": "lib_value",
        "const": "generated_const",
        "word": "generated_const",
        "runtime": "data_file",
        "included": "data_file",
        "version": "bump_version",
        "default_extra": "default_features",
    }[what]


def revert(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """Back to an earlier content of a file: the step that should hit old cache entries."""
    candidates = [
        name
        for name, values in sorted(state.history.items())
        if any(value != state.params[name] for value in values)
        and param_kind(name) not in state.skip
    ]
    if not candidates:
        return None
    param = rng.choice(candidates)
    earlier = [value for value in state.history[param] if value != state.params[param]]
    return Step("revert", ((param, rng.choice(earlier)),))


def c_source(spec: Spec, state: State, rng: random.Random) -> Step | None:
    param = rng.choice(sorted(name for name in state.params if name.startswith("nat_")))
    return Step("c_source", ((param, _fresh_int(state, param, rng)),))


def generated_const(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """Change what a build script generates: a constant (gen.rs, cfg) or an env value."""
    if rng.random() < 0.7:
        param = rng.choice(_params_named(state, ".const"))
        return Step("generated_const", ((param, _fresh_int(state, param, rng)),))
    param = rng.choice(_params_named(state, ".word"))
    word = f"{rng.choice(WORDS)}{rng.randint(1, 99)}"
    return Step("generated_const", ((param, word),))


def proc_macro(spec: Spec, state: State, rng: random.Random) -> Step | None:
    return Step("proc_macro", (("pmac.base", _fresh_int(state, "pmac.base", rng)),))


def data_file(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """A file read at runtime (runtime.txt) or through include_str! (included.txt)."""
    param = rng.choice(_params_named(state, ".runtime") + _params_named(state, ".included"))
    return Step("data_file", ((param, f"{rng.choice(WORDS)}-{rng.randint(100, 999)}"),))


def bump_version(spec: Spec, state: State, rng: random.Random) -> Step | None:
    param = rng.choice(_params_named(state, ".version"))
    return Step("bump_version", ((param, int(state.params[param]) + 1),))  # type: ignore[call-overload]


def default_features(spec: Spec, state: State, rng: random.Random) -> Step | None:
    param = rng.choice(_params_named(state, ".default_extra"))
    return Step("default_features", ((param, not state.params[param]),))


def cli_features(spec: Spec, state: State, rng: random.Random) -> Step | None:
    choice = rng.choice([f for f in FEATURE_SETS if f != state.features])
    return Step("cli_features", features=choice)


def profile(spec: Spec, state: State, rng: random.Random) -> Step | None:
    return Step("profile", release=not state.release)


def incremental(spec: Spec, state: State, rng: random.Random) -> Step | None:
    value = rng.choice([v for v in ("default", "0", "1") if v != state.incremental])
    return Step("incremental", incremental=value)


def second_checkout(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """Copy the current tree to another path and build it there, with its own target dir."""
    return Step("second_checkout", builds=(rng.choice(OTHER_CHECKOUTS),))


def concurrent(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """Two checkouts of the current tree built at the same time with the same cache."""
    return Step("concurrent", builds=("a", rng.choice(OTHER_CHECKOUTS)), concurrent=True)


def evict(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """Delete random entries and manifests, then build a random checkout."""
    fraction = rng.choice((0.2, 0.5, 0.8))
    checkout = rng.choice(state.checkouts)
    return Step("evict", evict=(fraction, rng.randint(0, 10**6)), builds=(checkout,))


def clean(spec: Spec, state: State, rng: random.Random) -> Step | None:
    how = rng.choice(("cargo clean", "empty"))
    return Step("clean", clean=how, builds=(rng.choice(state.checkouts),))


def mtime_swap(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """New content for a source file that keeps the file's old mtime (cp -p style)."""
    edits = [
        e for e in (lib_value, c_source, generated_const, revert) if e.__name__ not in state.skip
    ]
    step = rng.choice(edits)(spec, state, rng)
    if step is None or not step.changes:
        return None
    return replace(step, kind=f"mtime_swap/{step.kind}", keep_mtime=True)


def swap_during_compile(spec: Spec, state: State, rng: random.Random) -> Step | None:
    """rustc compiles one content; the file is swapped (old mtime) while it runs."""
    param = f"{spec.hook_crate.name}.base"
    compiled = _fresh_int(state, param, rng)
    final = _fresh_int(state, param, rng)
    while final == compiled:
        final = _fresh_int(state, param, rng)
    return Step("swap_during_compile", ((param, final),), swap=(param, compiled))


# (edit, weight): how often each kind of step is drawn.
EDITS = (
    (lib_value, 4),
    (revert, 4),
    (c_source, 3),
    (generated_const, 2),
    (proc_macro, 1),
    (data_file, 1),
    (bump_version, 1),
    (default_features, 1),
    (cli_features, 1),
    (profile, 1),
    (incremental, 0.5),
    (second_checkout, 2.5),
    (concurrent, 1),
    (evict, 1.5),
    (clean, 1),
    (mtime_swap, 1),
    (swap_during_compile, 0.7),
)


KINDS = tuple(edit.__name__ for edit, _ in EDITS)


def plan(
    spec: Spec, steps: int, skip: frozenset[str] = frozenset(), *, end_with_clean: bool = False
) -> list[Step]:
    """The first `steps` steps of this seed's scenario; the first one builds the initial tree.

    `skip` leaves some kinds of edits out, e.g. to look past a known bug that the
    skipped edits trigger; it changes the whole sequence. `end_with_clean` adds a last
    step that rebuilds checkout a from a cleaned target dir: every crate is then looked
    up in the cache, so a scenario cannot pass without serving (and checking) hits."""
    unknown = skip - set(KINDS)
    if unknown:
        raise ValueError(f"unknown step kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    rng = random.Random(f"difftest-steps-{spec.seed}")
    state = initial_state(spec)
    state.skip = skip
    planned = [Step("initial")]
    edits, weights = zip(*((e, w) for e, w in EDITS if e.__name__ not in skip))
    while len(planned) < steps:
        edit = rng.choices(edits, weights)[0]
        step = edit(spec, state, rng)
        if step is None:
            continue
        apply(state, step)
        planned.append(step)
    planned = planned[:steps]
    if end_with_clean:
        planned.append(Step("clean", clean="cargo clean", builds=("a",)))
    return planned


def files_changed(spec: Spec, step: Step) -> list[str]:
    return sorted({param_file(spec, name) for name, _ in step.changes})

"""Run one scenario: after every step, build cached and uncached, run everything, compare.

Each checkout of the tree has two persistent target dirs: `cached` (cargo runs rustc
through buildcache, with one cache dir for the whole scenario) and `reference` (no
wrapper). Both get the same cargo commands, the same environment and the same
target-dir events (clean, emptied), so cargo makes the same decisions in both, even
when a step fools cargo's mtime checks on purpose. What the binaries and the
integration tests print, and their exit codes, must then be identical: any
difference, or a cached build failing where the reference one succeeds, is a
buildcache bug.

Paths are compared after replacing the checkout's root and its target dir by
placeholders, so a path that leaked from another checkout or target dir (an OUT_DIR
baked in by an entry stored elsewhere) shows as a difference.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import edits
from .edits import State, Step
from .generator import Spec, generate, param_file, render
from .report import Difference, Failure, ScenarioResult

CARGO_TIMEOUT = 900  # seconds; a hang is reported as a failure, not waited on forever
RUN_TIMEOUT = 60
# Where each checkout lives, relative to the scenario dir: different depths and lengths.
CHECKOUT_PATHS = {"a": "ws-a", "b": "b/nested/ws-b", "c": "elsewhere-c"}
CARGO_ENV_DROPPED = (
    "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR",
    "CARGO_INCREMENTAL", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_JOBS",
)  # fmt: skip
_TEST_TIME = re.compile(r"finished in \d+(\.\d+)?s")

Log = Callable[[str], None]


class HarnessError(Exception):
    """The harness itself went wrong (e.g. the uncached build failed): not a buildcache bug."""


@dataclass
class Checkout:
    name: str
    root: Path
    targets: dict[str, Path]  # "cached" / "reference" -> CARGO_TARGET_DIR
    on_disk: dict[str, str] = field(default_factory=dict)  # what this checkout's files hold


@dataclass
class Outcome:
    """What one flavour (cached or reference) of one checkout produced in a step."""

    items: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (exit, output)
    stderr: dict[str, str] = field(default_factory=dict)  # cargo's stderr by command


def find_buildcache() -> str:
    """The installed wrapper: next to this Python (the dev virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / "buildcache"
    if beside.is_file():
        return str(beside)
    found = shutil.which("buildcache")
    if not found:
        raise HarnessError("no buildcache executable (run `make dev` first)")
    return found


class Scenario:
    def __init__(
        self,
        seed: int,
        steps: int,
        workdir: Path,
        log: Log = print,
        skip: frozenset[str] = frozenset(),
        *,
        end_with_clean: bool = False,
    ) -> None:
        self.seed = seed
        self.skip = skip
        self.spec: Spec = generate(seed)
        self.steps = edits.plan(self.spec, steps, skip, end_with_clean=end_with_clean)
        self.state: State = edits.initial_state(self.spec)
        self.workdir = workdir
        self.log = log
        self.cache_dir = workdir / "cache"
        self.checkouts: dict[str, Checkout] = {}
        self.cached_builds = 0
        self.fetched = False
        self.base_env = self._base_env(find_buildcache())

    # --- environment and commands ---

    def _base_env(self, buildcache: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CARGO_ENV_DROPPED}
        env = {k: v for k, v in env.items() if not k.startswith("BUILDCACHE_")}
        home = Path(os.path.expanduser("~"))
        env.setdefault("CARGO_HOME", str(home / ".cargo"))
        env.setdefault("RUSTUP_HOME", str(home / ".rustup"))
        (self.workdir / "home").mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(self.workdir / "home"),
            BUILDCACHE_DIR=str(self.cache_dir),
            BUILDCACHE_CONFIG=str(self.workdir / "home" / "no-user.conf"),
            BUILDCACHE_SYSTEM_CONFIG=str(self.workdir / "home" / "no-system.conf"),
            CARGO_TERM_COLOR="never",
            PATH=f"{Path(buildcache).parent}{os.pathsep}{env.get('PATH', '')}",
        )
        self.buildcache = buildcache
        return env

    def _env(self, checkout: Checkout, flavour: str, extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        env = dict(self.base_env, CARGO_TARGET_DIR=str(checkout.targets[flavour]))
        if flavour == "cached":
            env["RUSTC_WRAPPER"] = self.buildcache
            env["BUILDCACHE_LOG"] = str(self.workdir / "buildcache.log")
        else:
            env["RUSTC_WRAPPER"] = ""  # beats any rustc-wrapper in a cargo config file
        if self.state.incremental != "default":
            env["CARGO_INCREMENTAL"] = self.state.incremental
        return {**env, **(extra or {})}

    def _cargo(
        self,
        checkout: Checkout,
        flavour: str,
        args: list[str],
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if flavour == "cached" and args[0] in ("build", "test"):
            self.cached_builds += 1
        if not self.fetched and "--offline" in args:
            # Builds run offline; the one registry crate (cc, for the cc-rs native
            # library) is downloaded once per scenario, on a machine that can.
            self.fetched = True
            subprocess.run(
                ["cargo", "fetch"], cwd=checkout.root, env=self._env(checkout, flavour),
                capture_output=True, text=True, timeout=CARGO_TIMEOUT, check=False,
            )  # fmt: skip
        try:
            return subprocess.run(
                ["cargo", *args],
                cwd=checkout.root,
                env=self._env(checkout, flavour, extra_env),
                capture_output=True,
                text=True,
                timeout=CARGO_TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            stderr = (
                error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else ""
            )
            return subprocess.CompletedProcess(error.cmd, 124, "", f"timed out\n{stderr}")

    # `-p app` builds every crate (app depends on all libraries) as a dependency, the
    # way `cargo test -p app` does: a bare `cargo build` would build the proc-macro as
    # a root unit with other flags, and the test would then rebuild everything.
    def _build_args(self) -> list[str]:
        return ["build", "--offline", "-p", "app", *self.state.cargo_flags()]

    def _test_args(self) -> list[str]:
        flags = ["--offline", "--no-fail-fast", "-p", "app", *self.state.cargo_flags()]
        return ["test", *flags, "--", "--test-threads=1", "--nocapture"]

    # --- the tree on disk ---

    def checkout(self, name: str) -> Checkout:
        if name not in self.checkouts:
            root = self.workdir / CHECKOUT_PATHS[name]
            root.mkdir(parents=True)
            targets = {f: self.workdir / "targets" / f"{name}-{f}" for f in ("cached", "reference")}
            self.checkouts[name] = Checkout(name, root, targets)
        return self.checkouts[name]

    def sync(self, checkout: Checkout, files: dict[str, str], *, keep_mtime: bool = False) -> None:
        """Make the checkout hold `files`; keep_mtime gives changed files their old mtime."""
        for relative, text in files.items():
            if checkout.on_disk.get(relative) == text:
                continue
            path = checkout.root / relative
            old = path.stat() if path.exists() else None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if keep_mtime and old is not None:
                os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
            checkout.on_disk[relative] = text

    # --- cache and target-dir events ---

    def evict(self, fraction: float, selection_seed: int) -> int:
        files = sorted(
            path
            for suffix in ("*.entry", "*.manifest")
            for path in self.cache_dir.rglob(suffix)
            if path.is_file()
        )
        chosen = random.Random(selection_seed).sample(files, round(len(files) * fraction))
        for path in chosen:
            path.unlink()
        return len(chosen)

    def clean(self, checkout: Checkout, how: str) -> None:
        for flavour, target in checkout.targets.items():
            if not target.exists():
                continue
            if how == "cargo clean":
                result = self._cargo(checkout, flavour, ["clean", "--offline"])
                if result.returncode != 0:
                    raise HarnessError(f"cargo clean failed:\n{result.stderr}")
            elif target.exists():
                shutil.rmtree(target)
                target.mkdir(parents=True)

    # --- building, running, comparing ---

    def normalize(self, checkout: Checkout, flavour: str, text: str) -> str:
        text = text.replace(str(checkout.targets[flavour]), "<TARGET>")
        text = text.replace(str(checkout.root), "<ROOT>")
        return _TEST_TIME.sub("finished in <T>s", text)

    def build(
        self, checkout: Checkout, flavour: str, outcome: Outcome, env: dict[str, str]
    ) -> None:
        result = self._cargo(checkout, flavour, self._build_args(), env)
        outcome.items["cargo build"] = (result.returncode, "")
        outcome.stderr["cargo build"] = result.stderr

    def run_everything(self, checkout: Checkout, flavour: str, outcome: Outcome) -> None:
        """Run every binary and the integration tests of a build that succeeded."""
        if outcome.items["cargo build"][0] != 0:
            return
        profile = "release" if self.state.release else "debug"
        for name in self.spec.bins:
            binary = checkout.targets[flavour] / profile / name
            try:
                run = subprocess.run(
                    [str(binary)], cwd=checkout.root, capture_output=True, text=True,
                    timeout=RUN_TIMEOUT,
                )  # fmt: skip
                code, stdout = run.returncode, run.stdout
            except (OSError, subprocess.TimeoutExpired) as error:
                code, stdout = -1, f"cannot run: {error}"
            outcome.items[f"run {name}"] = (code, self.normalize(checkout, flavour, stdout))
        test = self._cargo(checkout, flavour, self._test_args())
        outcome.items["cargo test"] = (
            test.returncode,
            self.normalize(checkout, flavour, test.stdout),
        )
        outcome.stderr["cargo test"] = test.stderr

    def compare(self, index: int, checkout: Checkout, cached: Outcome, reference: Outcome) -> None:
        for name, (code, _) in reference.items.items():
            if code != 0 and name.startswith("cargo"):  # the tool binary exits non-zero
                raise HarnessError(
                    f"step {index}: uncached `{name}` failed in {checkout.root} "
                    f"(exit {code}):\n{reference.stderr.get(name, '')[-3000:]}"
                )
        for name, expected in reference.items.items():
            got = cached.items.get(name)
            if got != expected:
                raise Difference(checkout.name, checkout.root, name, expected, got, cached.stderr)

    # --- one step ---

    def run_step(self, index: int, step: Step) -> None:
        if step.evict:
            removed = self.evict(*step.evict)
            self.log(f"    evicted {removed} cache files")
        edits.apply(self.state, step)
        files = render(self.spec, self.state.params)
        checkouts = [self.checkout(name) for name in step.builds]
        outcomes = {name: (Outcome(), Outcome()) for name in step.builds}
        if step.swap:
            self.swap_during_compile(checkouts[0], step, files, outcomes[checkouts[0].name])
        else:
            for checkout in checkouts:
                self.sync(checkout, files, keep_mtime=step.keep_mtime)
                if step.clean:
                    self.clean(checkout, step.clean)
            self.build_all(checkouts, outcomes, concurrent=step.concurrent)
        for checkout in checkouts:
            cached, reference = outcomes[checkout.name]
            self.run_everything(checkout, "cached", cached)
            self.run_everything(checkout, "reference", reference)
            self.compare(index, checkout, cached, reference)

    def build_all(
        self,
        checkouts: list[Checkout],
        outcomes: dict[str, tuple[Outcome, Outcome]],
        *,
        concurrent: bool,
    ) -> None:
        if concurrent:
            with ThreadPoolExecutor(max_workers=len(checkouts)) as pool:
                list(
                    pool.map(lambda c: self.build(c, "cached", outcomes[c.name][0], {}), checkouts)
                )
        else:
            for checkout in checkouts:
                self.build(checkout, "cached", outcomes[checkout.name][0], {})
        for checkout in checkouts:
            self.build(checkout, "reference", outcomes[checkout.name][1], {})

    def swap_during_compile(
        self,
        checkout: Checkout,
        step: Step,
        files: dict[str, str],
        outcome: tuple[Outcome, Outcome],
    ) -> None:
        """Both flavours compile content X of a file that pmac::compile_hook!() replaces by
        content Y (the final one) with an old mtime while rustc runs. cargo then believes
        the outputs of X are up to date in both target dirs; a cache that stored them
        under Y's digest serves them to the next build that compiles Y."""
        assert step.swap is not None
        param, compiled_value = step.swap
        relative = param_file(self.spec, param)
        compiled = render(self.spec, {**self.state.params, param: compiled_value})
        path = checkout.root / relative
        staged = self.workdir / "swap" / Path(relative).name
        staged.parent.mkdir(exist_ok=True)
        staged.write_text(files[relative])
        old_mtime = int(path.stat().st_mtime)
        swap_env = {
            "DIFFTEST_SWAP_FROM": str(staged),
            "DIFFTEST_SWAP_TO": str(path),
            "DIFFTEST_SWAP_MTIME": str(old_mtime),
        }
        for flavour, result in zip(("cached", "reference"), outcome):
            checkout.on_disk.pop(relative, None)  # rewrite X even where the hook swapped it
            self.sync(checkout, compiled)
            self.build(checkout, flavour, result, swap_env)
        path.write_text(files[relative])
        os.utime(path, (old_mtime, old_mtime))
        checkout.on_disk[relative] = files[relative]

    def stats(self) -> dict[str, int]:
        result = subprocess.run(
            [self.buildcache, "stats", "--json"],
            env=self.base_env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def run(self) -> ScenarioResult:
        started = time.monotonic()
        self.log(f"seed {self.seed}: {self.spec.describe()}")
        failure = None
        done = 0
        for index, step in enumerate(self.steps):
            step_started = time.monotonic()
            self.log(f"  step {index}: {step.describe()}")
            try:
                self.run_step(index, step)
            except Difference as difference:
                failure = Failure(
                    self.seed, index, self.steps, self.skip, self.spec, self.workdir, difference
                )
            except HarnessError as error:
                where = f"seed {self.seed}, step {index} ({step.describe()}), in {self.workdir}"
                raise HarnessError(f"{where}: {error}") from None
            done = index + 1
            self.log(
                f"    {'DIFFERS' if failure else 'same'} ({time.monotonic() - step_started:.1f}s)"
            )
            if failure:
                break
        stats = self.stats() if self.cache_dir.exists() else {}
        return ScenarioResult(
            self.seed, done, self.cached_builds, stats, failure, self.workdir,
            time.monotonic() - started,
        )  # fmt: skip


def run_scenario(
    seed: int,
    steps: int,
    workdir: Path,
    log: Log = print,
    skip: frozenset[str] = frozenset(),
    *,
    end_with_clean: bool = False,
) -> ScenarioResult:
    return Scenario(seed, steps, workdir, log, skip, end_with_clean=end_with_clean).run()

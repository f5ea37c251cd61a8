"""python -m tests.differential: one seed, a few seeds, or random seeds for a while (make fuzz).

  python -m tests.differential --seed 7 --steps 12      # run (or reproduce) one scenario
  python -m tests.differential --seed 7 --plan          # print its steps, build nothing
  python -m tests.differential --fuzz-seconds 1800      # random seeds until time is up

A failing scenario's directory is kept and named in its report. Exit status: 1 when
some scenario found a difference, 2 on a harness error (a bug of the harness).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import edits, generator
from .report import ScenarioResult, format_totals
from .runner import HarnessError, run_scenario

DEFAULT_STEPS = 12
FUZZ_STEPS = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.differential",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, action="append", help="a seed to run (repeatable)")
    parser.add_argument(
        "--steps",
        type=int,
        help=f"steps per scenario, the initial build included (default {DEFAULT_STEPS}, "
        f"{FUZZ_STEPS} when fuzzing)",
    )
    parser.add_argument("--fuzz-seconds", type=float, help="run random seeds for this long")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where scenarios are built, one subdirectory per seed (default: a new temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep passing scenarios' dirs too")
    parser.add_argument(
        "--end-with-clean",
        action="store_true",
        help="add a last step rebuilding checkout a from a cleaned target dir (CI does)",
    )
    parser.add_argument("--quiet", action="store_true", help="one line per scenario, no steps")
    parser.add_argument("--plan", action="store_true", help="print the steps, build nothing")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=edits.KINDS,
        metavar="KIND",
        help="leave this kind of step out (repeatable), e.g. to look past a known bug; "
        f"kinds: {', '.join(edits.KINDS)}",
    )
    args = parser.parse_args(argv)
    if not args.seed and not args.fuzz_seconds:
        parser.error("give --seed N (repeatable) or --fuzz-seconds S")
    args.steps = args.steps or (FUZZ_STEPS if args.fuzz_seconds else DEFAULT_STEPS)
    args.skip = frozenset(args.skip)
    return args


def print_plan(seeds: list[int], steps: int, skip: frozenset[str]) -> None:
    for seed in seeds:
        spec = generator.generate(seed)
        print(f"seed {seed}: {spec.describe()}")
        for index, step in enumerate(edits.plan(spec, steps, skip)):
            print(f"  {index}: {step.describe()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plan:
        print_plan(args.seed or [], args.steps, args.skip)
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="difftest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log = (lambda _: None) if args.quiet else (lambda line: print(line, flush=True))
    results: list[ScenarioResult] = []

    def one(seed: int) -> None:
        scenario_dir = workdir / f"seed-{seed}"
        shutil.rmtree(scenario_dir, ignore_errors=True)
        result = run_scenario(
            seed, args.steps, scenario_dir, log, args.skip, end_with_clean=args.end_with_clean
        )
        results.append(result)
        verdict = f"DIFFERS at step {result.failure.step}" if result.failure else "same"
        print(
            f"seed {seed}: {result.steps_run} steps, {verdict} ({result.seconds:.0f}s)", flush=True
        )
        if result.failure:
            print(result.failure.report(), flush=True)
        elif not args.keep:
            shutil.rmtree(scenario_dir, ignore_errors=True)

    status = 0
    try:
        for seed in args.seed or []:
            one(seed)
        if args.fuzz_seconds:
            deadline = time.monotonic() + args.fuzz_seconds
            picker = random.Random(os.urandom(8))
            while time.monotonic() < deadline:
                one(picker.randrange(10**6))
    except HarnessError as error:
        print(f"harness error: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    print(format_totals(results), flush=True)
    if any(r.failure for r in results):
        return 1
    if status == 0 and not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""What the parser fuzz tests share: Hypothesis profiles and the seed corpus.

Profiles (HYPOTHESIS_PROFILE picks one; CI=true picks "ci"):
- "dev" (default): a few hundred examples per property; failures are kept in the
  example database (.hypothesis/, not committed) and replayed first next run;
- "ci": the same number, derandomized and without a database, so a run is
  deterministic and a CI failure reproduces locally with HYPOTHESIS_PROFILE=ci;
- "long": many more examples, to hunt (HYPOTHESIS_PROFILE=long pytest tests/fuzz).

The corpus, tests/fuzz_corpus/<parser>/, holds seed inputs as raw bytes, replayed by
every run. A failure that Hypothesis finds goes there too, with a unit test next to
the parser's own tests. Formats: `.d` dep-info, `.txt` a size, `.conf` a config
file, as the programs read them (UTF-8 with surrogateescape, so any byte goes);
`.args` rustc arguments and `.env` environment entries, NUL-separated like
/proc/<pid>/cmdline and decoded like argv (os.fsdecode).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

CORPUS = Path(__file__).resolve().parent.parent / "fuzz_corpus"
# Enough to find the bugs this suite was written for in well under a second per
# property on a shared two-core machine; "long" is for hunting.
EXAMPLES = 300

settings.register_profile("dev", max_examples=EXAMPLES, deadline=None)
settings.register_profile(
    "ci", max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("long", max_examples=50_000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


def seeds(parser: str, suffix: str) -> list[tuple[str, bytes]]:
    """(file name, raw bytes) of every seed of one parser with that suffix."""
    files = sorted((CORPUS / parser).glob(f"*{suffix}"))
    assert files, f"no {suffix} seeds in {CORPUS / parser}"
    return [(path.name, path.read_bytes()) for path in files]


def seed_params(parser: str, suffix: str) -> list[object]:
    """The seeds as pytest parameters, one test per file, named after it."""
    return [pytest.param(data, id=name) for name, data in seeds(parser, suffix)]


def as_read(data: bytes) -> str:
    """Bytes as the wrapper reads a text file: UTF-8, any other byte kept as a surrogate."""
    return data.decode("utf-8", "surrogateescape")


def nul_separated(data: bytes) -> list[str]:
    """An `.args` or `.env` seed as the strings Python hands a program."""
    return [os.fsdecode(item) for item in data.split(b"\0")]

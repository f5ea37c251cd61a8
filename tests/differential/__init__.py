"""Differential testing of buildcache: cached builds must behave like uncached ones.

A seed picks a small random cargo workspace (generator.py) and a random sequence of
edits and build settings (edits.py). After every step the runner (runner.py) builds
the tree twice with the same cargo commands, once through buildcache with a cache
shared across steps and once with no wrapper in a separate target dir, runs every
binary and the integration tests, and compares what they print. Any difference is a
buildcache bug: both builds see the same sources, the same cargo commands and the
same target-dir history, so only the wrapper can make them disagree.

Entry points: `python -m tests.differential --seed N --steps K` (one scenario),
`python -m tests.differential --fuzz-seconds S` (random seeds, `make fuzz`) and
test_differential.py (fixed seeds, the CI mode).
"""

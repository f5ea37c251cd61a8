"""Entry point: decide between the rustc-wrapper hot path and the CLI.

cargo runs `buildcache /path/to/rustc ARGS...`; everything else is a user
typing a subcommand. The decision is made before any CLI module is
imported, so a rustc call pays only for what the wrapper needs.
"""

from __future__ import annotations

import sys

# Words that start the CLI rather than name a compiler.
CLI_WORDS = frozenset({"stats", "trim", "config", "sweep", "doctor", "explain", "help", "version"})


def is_wrapper_call(argv: list[str]) -> bool:
    """True when argv looks like `buildcache <compiler> ...` as cargo calls it."""
    if len(argv) < 2:
        return False
    first = argv[1]
    return not first.startswith("-") and first not in CLI_WORDS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if is_wrapper_call(argv):
        from buildcache.wrapper import run_wrapper

        return run_wrapper(argv[1:])
    from buildcache.cli import run_cli

    return run_cli(argv[1:])

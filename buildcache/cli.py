"""The command line: parse, dispatch to one module per subcommand, map errors to exit codes.

Exit codes: 0 success, 1 a FatalError (the message says what to fix),
130 interrupted, 3 an unexpected bug (with a traceback when BUILDCACHE_LOG is set).
"""

from __future__ import annotations

import argparse
import sys

from buildcache import __version__
from buildcache.commands import config, doctor, explain, helper, report, stats, sweep, trim
from buildcache.errors import FatalError

# Each module imports its heavy dependencies inside run() so `buildcache --help` stays fast.
COMMANDS = {
    "stats": stats,
    "trim": trim,
    "config": config,
    "sweep": sweep,
    "explain": explain,
    "doctor": doctor,
    "helper": helper,
    "report": report,
}

# sccache/ccache habits, rewritten to our subcommands before parsing.
FLAG_ALIASES = {
    "--show-stats": ["stats"],
    "-s": ["stats"],
    "--zero-stats": ["stats", "--zero"],
    "-z": ["stats", "--zero"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildcache",
        description="A compiler cache for Rust. cargo runs it as rustc-wrapper: "
        "`RUSTC_WRAPPER=buildcache cargo build`.",
    )
    parser.add_argument("--version", action="version", version=f"buildcache {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return parser


def run_cli(args: list[str]) -> int:
    if args and args[0] in FLAG_ALIASES:
        args = FLAG_ALIASES[args[0]] + args[1:]
    if args and args[0] == "version":
        args = ["--version"]
    if args and args[0] == "help":  # `buildcache help [COMMAND]`
        args = [*args[1:2], "--help"]
    parser = build_parser()
    parsed = parser.parse_args(args)
    if parsed.command is None:
        parser.print_help()
        return 0
    module = COMMANDS[parsed.command]
    try:
        return int(module.run(parsed))
    except FatalError as error:
        print(f"buildcache: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # noqa: BLE001 - a bug: say so plainly, details on request
        import os
        import traceback

        print(
            f"buildcache: internal error (a bug): {type(error).__name__}: {error}", file=sys.stderr
        )
        if os.environ.get("BUILDCACHE_LOG"):
            traceback.print_exc()
        else:
            print("buildcache: set BUILDCACHE_LOG=stderr to see the traceback", file=sys.stderr)
        return 3

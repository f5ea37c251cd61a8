"""Entry point: decide between the rustc-wrapper hot path and the CLI.

cargo runs `buildcache /path/to/rustc ARGS...`; everything else is a user
typing a subcommand. The decision is made before any CLI module is
imported, so a rustc call pays only for what the wrapper needs.

The guard around the wrapper is here, before anything of the cache is even
imported: whatever goes wrong (a config file that is not text, a broken install,
a bug), the build gets rustc unchanged, or rustc's own exit code if it already ran.
"""

from __future__ import annotations

import os
import sys

from buildcache.commands import COMMAND_NAMES
from buildcache.wrapper.compilers import is_c_family_name, is_rustc_name

# Words that start the CLI rather than name a compiler.
CLI_WORDS = frozenset(COMMAND_NAMES) | {"help", "version"}
# Arguments that only a compiler call carries (cargo's probes and compiles).
_COMPILER_ARGS = frozenset({"-vV", "-V", "--version", "-", "-c"})
_COMPILER_ARG_PREFIXES = ("--crate-name", "--print")
_SOURCE_SUFFIXES = (".rs", ".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".S", ".s", ".m", ".mm")


def is_wrapper_call(argv: list[str]) -> bool:
    """True when argv looks like `buildcache <compiler> ...` as cargo calls it.

    A bare word that is not a command counts as a compiler only when it is named
    like rustc or a C compiler (cc-rs calls `buildcache cc -c x.c`) or is followed
    by compiler arguments: `buildcache stat` is a typo of `stats`, not a request to
    run /usr/bin/stat."""
    if len(argv) < 2:
        return False
    first = argv[1]
    if first.startswith("-") or first in CLI_WORDS:
        return False
    if "/" in first or is_rustc_name(first) or is_c_family_name(first, os.environ):
        return True
    return any(
        arg in _COMPILER_ARGS
        or arg.startswith(_COMPILER_ARG_PREFIXES)
        or arg.endswith(_SOURCE_SUFFIXES)
        for arg in argv[2:]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    launch_socket = os.environ.pop("BUILDCACHE_LAUNCH_SOCKET", None)
    if is_wrapper_call(argv):
        if launch_socket:
            _start_launch_server(launch_socket)
        return _wrap(argv[1:])
    if sys.flags.no_site:
        # Started by the fast launcher (launcher.py), which skips site for the rustc
        # calls' sake. A command typed by a user gets site-packages back, so the CLI
        # runs as it would from pip's own script.
        import site

        site.main()
    from buildcache.cli import run_cli

    return run_cli(argv[1:])


def _start_launch_server(path: str) -> None:
    """The launch client found no server (or one that could not serve it) and ran this
    call the ordinary way: start one for the calls that follow (launch/start.py)."""
    try:
        from buildcache.launch.start import start_server

        if os.path.isabs(path):
            start_server(path)
    except Exception:  # noqa: BLE001, S110 - the next call just comes this way again
        pass


def _wrap(compiler_argv: list[str]) -> int:
    ran = None
    try:
        from buildcache.wrapper.run import RustcRan, run_wrapper

        ran = RustcRan()
        return run_wrapper(compiler_argv, ran)
    except KeyboardInterrupt:
        return 130
    except BaseException:  # noqa: BLE001 - never fail a build: rustc as if we were not here
        if ran is not None and ran.exit_code is not None:
            return ran.exit_code
        try:
            from buildcache.wrapper.rustc_process import exec_rustc

            return exec_rustc(compiler_argv[0], compiler_argv[1:])
        except BaseException:  # noqa: BLE001, S110 - a broken install: exec it from here
            pass
        if _in_a_launch_child():
            os._exit(1)  # its client sees no answer and runs the call the ordinary way
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            os.execvp(compiler_argv[0], compiler_argv)
        except OSError as error:
            sys.stderr.write(f"buildcache: cannot run {compiler_argv[0]}: {error.strerror}\n")
        return 127


def _in_a_launch_child() -> bool:
    """Whether this process is a launch server's child (launch/child.py sets the hand-back):
    it must never become the compiler itself, out of its client's and the server's watch."""
    process = sys.modules.get("buildcache.wrapper.rustc_process")
    hand_back = getattr(process, "HAND_BACK", None)
    return bool(hand_back and hand_back[0] is not None)

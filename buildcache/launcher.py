"""The fast launcher: rewrite pip's `buildcache` script so Python starts with -I -S.

cargo starts `buildcache` once per rustc call, so Python's start-up is paid every
time. The script pip writes (`#!/path/to/python`, then `from buildcache.main import
main`) starts the interpreter with `site`, which scans site-packages and runs its
.pth files before buildcache's first line: about 2 ms in a small virtualenv, tens
of ms in a site-packages with many .pth files (and pip 23's script imports `re`
for one substitution, ~3 ms more). pip has no way to add interpreter
flags to a console script, so after `pip install`, `python -I -m buildcache.launcher`
rewrites that script in place (`make dev` and the provisioning role both do):

    #!/same/python/as/pip/wrote -IS
    sys.path += [the directory holding buildcache, and those of its dependencies]

-I leaves out the PYTHON* variables, the user site and the script's directory; -S
leaves out `site`. The directories are appended, as site would, so nothing there can
shadow the standard library. The wrapper's hot path imports only the standard library
and buildcache; the CLI calls site.main() itself (main.py) for what it may need.
The paths are absolute, written when the script is, so a symlink to the script
(/usr/local/bin/buildcache -> the virtualenv's) needs no resolving at run time.

Never fail a build: when the package is not in those directories any more, the
script starts Python again the ordinary way (site and all), where pip's script
would have found it. Running this again is harmless: it writes only when the
script differs from what it would write, and says which it did on stdout
(`buildcache: wrote ...`, `buildcache: unchanged ...`, `buildcache: kept ...`).
"""

from __future__ import annotations

import os
import sys

# The first words of the launcher's comment, so people and tests can tell it from pip's.
MARKER = "# buildcache fast launcher"
# What pip's console script (and ours) imports: a file named buildcache without it
# is someone else's, and is never overwritten.
ENTRY_IMPORT = "from buildcache.main import main"
# The interpreter flags, as one word: Linux passes everything after the interpreter
# in a #! line as a single argument, and Python reads "-IS" as -I -S ("-I -S" fails).
FLAGS = "-IS"
# The longest #! line every Linux honours (BINPRM_BUF_SIZE before 5.1); pip switches
# to a /bin/sh trampoline past it, and so would a longer line of ours.
MAX_SHEBANG = 127

TEMPLATE = """\
#!{interpreter} {flags}
{marker}: `python -I -m buildcache.launcher` wrote this over pip's
# console script so each rustc call starts Python without site (see launcher.py).
import sys

if sys.flags.no_site:
    sys.path += {paths!r}
try:
    from buildcache.main import main
except ImportError:
    if not sys.flags.no_site:
        raise
    # Moved or reinstalled elsewhere: start again the ordinary way, as pip's script
    # would, rather than fail the build.
    import os

    os.execv(sys.executable, [sys.executable, *sys.argv])
sys.exit(main())
"""


class LauncherError(Exception):
    """The launcher cannot be written; pip's script stays and works, only slower."""


def render(interpreter: str, paths: list[str]) -> str:
    return TEMPLATE.format(interpreter=interpreter, flags=FLAGS, marker=MARKER, paths=paths)


def interpreter_of(text: str) -> str:
    """The absolute interpreter path of a plain `#!/path/python [flags]` line."""
    first = text.split("\n", 1)[0]
    words = first[2:].split() if first.startswith("#!") else []
    # Not `#!/bin/sh`: pip writes a shell trampoline when the path is too long or has spaces.
    if not words or not os.path.isabs(words[0]) or "python" not in os.path.basename(words[0]):
        raise LauncherError(f"its first line is not `#!/path/to/python` ({first[:60]!r})")
    if not os.access(words[0], os.X_OK):
        raise LauncherError(f"its interpreter {words[0]} cannot be run")
    return words[0]


def launcher_text(current: str, paths: list[str]) -> str:
    """The launcher to write over `current` (pip's script, or an earlier launcher)."""
    if ENTRY_IMPORT not in current:
        raise LauncherError("it is not pip's console script for buildcache")
    interpreter = interpreter_of(current)
    if len(f"#!{interpreter} {FLAGS}") > MAX_SHEBANG:
        raise LauncherError(f"the interpreter path is too long for a #! line: {interpreter}")
    return render(interpreter, paths)


def install(script: str, paths: list[str]) -> bool:
    """Write the launcher over script; True when the file changed."""
    script = os.path.realpath(script)
    with open(script, "rb") as handle:
        current = handle.read()
    interpreter = current_interpreter(current)
    if len(f"#!{interpreter} {FLAGS}") > MAX_SHEBANG:
        raise LauncherError(f"the interpreter path is too long for a #! line: {interpreter}")
    text = render(interpreter, paths)
    if text.encode("utf-8", "surrogateescape") == current:
        return False
    _replace(script, text.encode("utf-8", "surrogateescape"), os.stat(script).st_mode & 0o7777)
    return True


def installed_layout() -> tuple[str, list[str]]:
    """(pip's `buildcache` script, the directories of buildcache and its dependencies)
    for the installation this interpreter finds, read from pip's records.

    The working directory is left out of the search: `python -m` puts it first, and in
    a checkout it holds the source tree (and maybe a stale egg-info), not what pip
    installed."""
    from importlib import metadata

    cwd = os.getcwd()
    search = [entry for entry in sys.path if entry not in ("", ".", cwd)]

    def find(name: str) -> metadata.Distribution | None:
        return next(iter(metadata.distributions(name=name, path=search)), None)

    dist = find("buildcache")
    if dist is None:
        raise LauncherError("buildcache is not installed for this interpreter")
    site_dir = os.path.realpath(str(dist.locate_file("")))
    if not os.path.isfile(os.path.join(site_dir, "buildcache", "main.py")):
        raise LauncherError(f"the package is not in {site_dir} (an editable install?)")
    scripts = [
        os.path.realpath(os.path.join(site_dir, str(entry)))
        for entry in dist.files or []
        if entry.name == "buildcache" and "bin" in entry.parts
    ]
    if not scripts:
        raise LauncherError("pip's records list no `buildcache` script")
    paths = [site_dir]
    for requirement in dist.requires or []:
        name, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        name = name.strip().split("[")[0]
        for separator in "<>=!~ (":
            name = name.split(separator)[0]
        found = find(name)
        if found is not None:
            directory = os.path.realpath(str(found.locate_file("")))
            if directory not in paths:
                paths.append(directory)
    return scripts[0], paths


def install_client(script: str, paths: list[str]) -> bool:
    """Write the launch client (launch/client.c) over script; True when the file
    changed. ClientUnavailable when it cannot be built here."""
    from buildcache.launch.build import build_client

    script = os.path.realpath(script)
    with open(script, "rb") as handle:
        current = handle.read()
    interpreter = current_interpreter(current)
    binary = build_client(interpreter, paths)
    if binary == current:
        return False
    _replace(script, binary, 0o755)
    return True


def current_interpreter(current: bytes) -> str:
    """The interpreter of pip's script, of the Python launcher or of a launch client."""
    from buildcache.launch.build import client_interpreter

    interpreter = client_interpreter(current)
    if interpreter is not None:
        if not os.access(interpreter, os.X_OK):
            raise LauncherError(f"its interpreter {interpreter} cannot be run")
        return interpreter
    text = current.decode("utf-8", "surrogateescape")
    if ENTRY_IMPORT not in text:
        raise LauncherError("it is not pip's console script for buildcache")
    return interpreter_of(text)


def _replace(script: str, data: bytes, mode: int) -> None:
    temp = f"{script}.tmp-{os.getpid()}"
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.chmod(temp, mode)
        os.replace(temp, script)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def main(argv: list[str] | None = None) -> int:
    """`python -I -m buildcache.launcher [--no-client]`: the launch client where a C
    compiler can build it (and not --no-client), else the Python launcher."""
    argv = sys.argv[1:] if argv is None else argv
    want_client = "--no-client" not in argv
    try:
        script, paths = installed_layout()
    except LauncherError as reason:
        print(f"buildcache: kept pip's script: {reason}")
        return 0
    if want_client:
        from buildcache.launch.build import ClientUnavailable

        try:
            changed = install_client(script, paths)
        except ClientUnavailable as reason:
            print(f"buildcache: no launch client ({reason}); the Python launcher instead")
        except LauncherError as reason:
            print(f"buildcache: kept pip's script: {reason}")
            return 0
        except OSError as error:
            print(f"buildcache: cannot write the launch client: {error}", file=sys.stderr)
            return 1
        else:
            if changed:
                print(f"buildcache: wrote the launch client to {script} (python {paths})")
            else:
                print(f"buildcache: unchanged, {script} already is the launch client")
            return 0
    try:
        changed = install(script, paths)
    except LauncherError as reason:
        print(f"buildcache: kept pip's script: {reason}")
        return 0
    except OSError as error:
        print(f"buildcache: cannot write the fast launcher: {error}", file=sys.stderr)
        return 1
    if changed:
        print(f"buildcache: wrote the fast launcher to {script} (python {FLAGS}, path {paths})")
    else:
        print(f"buildcache: unchanged, {script} already is the fast launcher")
    return 0


if __name__ == "__main__":
    sys.exit(main())

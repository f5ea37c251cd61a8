"""Doctor checks of the installation: the command on PATH, and the cleanup job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from buildcache.doctor.model import CheckResult, Setup, fail, ok, warn

# `buildcache --version` starts one interpreter; even on a loaded machine that takes
# well under a second, so a command that needs longer than this is hung.
VERSION_TIMEOUT_SECONDS = 20
# `crontab -l` only reads a file; allow for a slow NSS lookup of the user, no more.
CRONTAB_TIMEOUT_SECONDS = 10
# What the provisioning role's job runs (an absolute path to buildcache, then `sweep`).
SWEEP_JOB = re.compile(r"(?P<program>\S*buildcache)\s+sweep\b")
# cron runs jobs with this PATH unless the crontab sets its own.
CRON_DEFAULT_PATH = "/usr/bin:/bin"
REINSTALL_FIX = "Reinstall buildcache: `make provision`."


def _shebang_interpreter(script: Path, search_path: str) -> tuple[str, Path | None] | None:
    """The interpreter named by script's `#!` line and where it resolves, or None if no #!."""
    try:
        with open(script, "rb") as handle:
            first_line = handle.readline(4096)
    except OSError:
        return None
    if not first_line.startswith(b"#!"):
        return None
    words = first_line[2:].decode(errors="replace").split()
    if not words:
        return "", None
    interpreter = words[0]
    if os.path.basename(interpreter) == "env" and len(words) > 1:
        found = shutil.which(words[-1], path=search_path)
        return words[-1], Path(found) if found else None
    path = Path(interpreter)
    return interpreter, path if path.is_file() and os.access(path, os.X_OK) else None


def check_on_path(setup: Setup) -> CheckResult:
    """The `buildcache` on PATH starts: its interpreter exists and `--version` answers."""
    name = "on-path"
    found = shutil.which("buildcache", path=setup.search_path)
    if found is None:
        return fail(
            name,
            "no `buildcache` command on PATH",
            "Run `make provision`, or add the directory holding buildcache "
            "(~/.local/bin or /usr/local/bin) to PATH.",
        )
    shebang = _shebang_interpreter(Path(found), setup.search_path)
    if shebang is not None and shebang[1] is None:
        return fail(
            name,
            f"{found} names the interpreter {shebang[0]!r}, which does not exist "
            "(was its virtualenv removed?)",
            REINSTALL_FIX,
        )
    try:
        result = subprocess.run(
            [found, "--version"],
            capture_output=True,
            text=True,
            env=dict(setup.environ),
            timeout=VERSION_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return fail(name, f"{found} --version did not run: {error}", REINSTALL_FIX)
    if result.returncode != 0 or not result.stdout.startswith("buildcache "):
        output = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return fail(
            name,
            f"{found} --version failed (exit {result.returncode}): {output[0]}",
            REINSTALL_FIX,
        )
    version = result.stdout.strip()
    if shebang is not None and "/shims/" in str(shebang[1]):
        return warn(
            name,
            f"{found} ({version}) starts through the shim {shebang[1]}, "
            "which adds ~60 ms to every rustc call",
            "Reinstall with a real interpreter (`make provision` uses /usr/bin/python3).",
        )
    interpreter = f", interpreter {shebang[1]}" if shebang else ""
    return ok(name, f"{found} ({version}{interpreter})")


def _crontab_lines(command: tuple[str, ...]) -> list[str]:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=CRONTAB_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):  # no cron installed
        return []
    return result.stdout.splitlines() if result.returncode == 0 else []


def _file_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _sweep_job(lines: list[str]) -> tuple[str, str] | None:
    """(program, cron PATH) of the first active line running `buildcache sweep`."""
    cron_path = CRON_DEFAULT_PATH
    for line in lines:
        text = line.strip()
        if text.startswith("PATH="):
            cron_path = text[len("PATH=") :].strip("\"'")
        match = SWEEP_JOB.search(text)
        if match and not text.startswith("#"):
            return match.group("program"), cron_path
    return None


def check_cleanup_job(setup: Setup) -> CheckResult:
    """A cron job sweeps the target dirs, and the buildcache it runs exists for cron."""
    name = "cleanup-job"
    sources = [
        (str(setup.cron_file), _file_lines(setup.cron_file)),
        ("your crontab", _crontab_lines(setup.crontab_command)),
    ]
    for source, lines in sources:
        job = _sweep_job(lines)
        if job is None:
            continue
        program, cron_path = job
        if shutil.which(program, path=cron_path) is None:
            return warn(
                name,
                f"the cleanup job in {source} runs {program!r}, which cron cannot find "
                f"(cron's PATH is {cron_path})",
                "Run `make provision` to reinstall the job with an absolute path.",
            )
        return ok(name, f"{source} runs `{program} sweep`")
    return warn(
        name,
        f"no cleanup job: neither {setup.cron_file} nor your crontab runs `buildcache sweep`, "
        "so target dirs grow until the disk fills",
        "Run `make provision` (installs the job), or add to `crontab -e`: "
        "`17 4 * * * /path/to/buildcache sweep $HOME/.cache/cargo-target --time 14`.",
    )

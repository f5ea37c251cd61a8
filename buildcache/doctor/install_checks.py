"""Doctor checks of the installation: the command on PATH, and the cleanup job (cron
or a systemd user timer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from buildcache.doctor import systemd_units
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
REINSTALL_JOB_FIX = "Run `make provision` to reinstall the job with an absolute path."
# Where systemd (v239 and later) looks up an ExecStart= program given without a directory.
SYSTEMD_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


@dataclass(frozen=True)
class _Job:
    """A scheduled `buildcache sweep`, and why it would not run (None when it would)."""

    where: str
    program: str
    problem: str | None = None
    fix: str = REINSTALL_JOB_FIX


def _cron_jobs(setup: Setup) -> list[_Job]:
    sources = [
        (str(setup.cron_file), _file_lines(setup.cron_file)),
        ("your crontab", _crontab_lines(setup.crontab_command)),
    ]
    jobs = []
    for source, lines in sources:
        found = _sweep_job(lines)
        if found is None:
            continue
        program, cron_path = found
        problem = None
        if shutil.which(program, path=cron_path) is None:
            problem = f"cron cannot find it (cron's PATH is {cron_path})"
        jobs.append(_Job(source, program, problem))
    return jobs


def _timer_jobs(setup: Setup) -> list[_Job]:
    jobs = []
    for timer in systemd_units.timers(setup.systemd_user_dir):
        match = next(filter(None, map(SWEEP_JOB.search, timer.commands)), None)
        if match is None:
            continue
        program = match.group("program")
        problem, fix = None, REINSTALL_JOB_FIX
        if shutil.which(program, path=SYSTEMD_EXEC_PATH) is None:
            problem = (
                f"systemd cannot find it (it needs an absolute path, or one on {SYSTEMD_EXEC_PATH})"
            )
        elif not timer.enabled:
            problem = "the timer is not enabled, so it never starts"
            fix = f"Enable it: `systemctl --user enable --now {timer.name}`."
        jobs.append(_Job(f"the systemd timer {timer.path}", program, problem, fix))
    return jobs


def check_cleanup_job(setup: Setup) -> CheckResult:
    """A cron job or an enabled systemd user timer sweeps the target dirs, and the
    buildcache it runs is there for the scheduler to find."""
    name = "cleanup-job"
    jobs = [*_cron_jobs(setup), *_timer_jobs(setup)]
    for job in jobs:
        if job.problem is None:
            return ok(name, f"{job.where} runs `{job.program} sweep`")
    if jobs:
        job = jobs[0]
        return warn(
            name, f"the cleanup job in {job.where} runs {job.program!r}, but {job.problem}", job.fix
        )
    return warn(
        name,
        f"no cleanup job: neither {setup.cron_file}, your crontab nor an enabled systemd timer "
        f"in {setup.systemd_user_dir} runs `buildcache sweep`, so target dirs grow until "
        "the disk fills",
        "Run `make provision` (installs the job: with cron, or as a systemd user timer where "
        "there is no cron), or add to `crontab -e`: "
        "`17 4 * * * /path/to/buildcache sweep $HOME/.cache/cargo-target --time 14`.",
    )

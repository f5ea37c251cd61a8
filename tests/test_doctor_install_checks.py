from __future__ import annotations

import shutil
import sys
from pathlib import Path

from doctor_setup import make_setup

from buildcache.doctor.install_checks import check_cleanup_job, check_on_path
from buildcache.doctor.model import Setup, Status

JOB = "17 4 * * * root {program} sweep /var/cache/cargo-target --time 14 >/dev/null\n"


def script(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "buildcache"
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_installed_command_works(tmp_path: Path) -> None:
    result = check_on_path(make_setup(tmp_path))
    assert result.status is Status.OK and "buildcache " in result.message


def test_missing_from_path(tmp_path: Path) -> None:
    result = check_on_path(make_setup(tmp_path, PATH=str(tmp_path / "empty")))
    assert result.status is Status.FAIL and "PATH" in str(result.fix)


def test_an_interpreter_that_is_gone(tmp_path: Path) -> None:
    script(tmp_path / "bin", "#!/nonexistent/venv/bin/python3\n")
    result = check_on_path(make_setup(tmp_path, PATH=str(tmp_path / "bin")))
    assert result.status is Status.FAIL and "/nonexistent/venv/bin/python3" in result.message


def test_a_command_that_does_not_answer_version(tmp_path: Path) -> None:
    script(tmp_path / "bin", f"#!{sys.executable}\nraise SystemExit('boom')\n")
    result = check_on_path(make_setup(tmp_path, PATH=str(tmp_path / "bin")))
    assert result.status is Status.FAIL and "boom" in result.message


def test_cleanup_job_in_the_cron_file(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    setup.cron_file.write_text(JOB.format(program="/bin/sh"))  # any program cron can run
    assert check_cleanup_job(setup).status is Status.WARN  # /bin/sh is not buildcache
    setup.cron_file.write_text(JOB.format(program=shutil.which("buildcache")))
    result = check_cleanup_job(setup)
    assert result.status is Status.OK and str(setup.cron_file) in result.message


def test_cleanup_job_in_the_users_crontab(tmp_path: Path) -> None:
    line = JOB.format(program=shutil.which("buildcache")).replace(" root", "")
    setup = make_setup(tmp_path, crontab=("printf", "%s", line))
    result = check_cleanup_job(setup)
    assert result.status is Status.OK and "crontab" in result.message


def test_no_cleanup_job_warns(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, crontab=("/nonexistent/crontab", "-l"))
    setup.cron_file.write_text("# " + JOB.format(program="/usr/local/bin/buildcache"))
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN and "make provision" in str(result.fix)


def test_a_bare_buildcache_cron_cannot_find_warns(tmp_path: Path) -> None:
    setup: Setup = make_setup(tmp_path)
    setup.cron_file.write_text(JOB.format(program="buildcache"))
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN and "cron cannot find" in result.message
    setup.cron_file.write_text(
        f"PATH={Path(str(shutil.which('buildcache'))).parent}\n" + JOB.format(program="buildcache")
    )
    assert check_cleanup_job(setup).status is Status.OK


# What the cleanup_cron role writes where a machine has no cron (systemd user units).
SERVICE = """\
[Unit]
Description=Sweep the shared cargo target dir and trim the buildcache cache

[Service]
Type=oneshot
ExecStart=-{program} sweep /home/dev/.cache/cargo-target --time 14
ExecStart={program} trim
"""
TIMER = """\
[Unit]
Description=Run the buildcache cleanup daily

[Timer]
OnCalendar=*-*-* 4:17:00
Persistent=true
{extra}
[Install]
WantedBy=timers.target
"""


def write_units(
    unit_dir: Path,
    *,
    program: str,
    enabled: bool,
    name: str = "buildcache-cleanup",
    extra: str = "",
) -> Path:
    """The timer and its service in unit_dir; enabled as `systemctl --user enable` does it."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / f"{name}.service").write_text(SERVICE.format(program=program))
    timer = unit_dir / f"{name}.timer"
    timer.write_text(TIMER.format(extra=extra))
    if enabled:
        (unit_dir / "timers.target.wants").mkdir(exist_ok=True)
        (unit_dir / "timers.target.wants" / timer.name).symlink_to(f"../{timer.name}")
    return timer


def user_units(setup: Setup) -> Path:
    """Where systemd reads a user's own units (XDG_CONFIG_HOME unset)."""
    return setup.home / ".config" / "systemd" / "user"


def no_cron(tmp_path: Path) -> Setup:
    """A machine without cron: no cron file, and `crontab` is not installed."""
    return make_setup(tmp_path, crontab=("/nonexistent/crontab", "-l"))


def test_an_enabled_systemd_user_timer_is_a_cleanup_job(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    timer = write_units(user_units(setup), program=str(shutil.which("buildcache")), enabled=True)
    result = check_cleanup_job(setup)
    assert result.status is Status.OK, result
    assert str(timer) in result.message and "systemd timer" in result.message


def test_the_timer_is_found_under_xdg_config_home(tmp_path: Path) -> None:
    setup = make_setup(
        tmp_path, crontab=("/nonexistent/crontab", "-l"), XDG_CONFIG_HOME=str(tmp_path / "xdg")
    )
    write_units(
        tmp_path / "xdg" / "systemd" / "user", program=str(shutil.which("buildcache")), enabled=True
    )
    assert check_cleanup_job(setup).status is Status.OK


def test_a_timer_that_names_its_service(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    unit_dir = user_units(setup)
    write_units(unit_dir, program=str(shutil.which("buildcache")), enabled=False, name="sweeper")
    write_units(
        unit_dir, program="/bin/true", enabled=True, name="nightly", extra="Unit=sweeper.service"
    )
    (unit_dir / "nightly.service").unlink()
    result = check_cleanup_job(setup)
    assert result.status is Status.OK and "nightly.timer" in result.message, result


def test_a_timer_that_is_not_enabled_warns_and_says_how_to_enable_it(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    write_units(user_units(setup), program=str(shutil.which("buildcache")), enabled=False)
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN and "not enabled" in result.message, result
    assert "systemctl --user enable --now buildcache-cleanup.timer" in str(result.fix)


def test_a_timer_whose_buildcache_is_gone_warns(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    write_units(user_units(setup), program="/nonexistent/bin/buildcache", enabled=True)
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN and "/nonexistent/bin/buildcache" in result.message
    assert "make provision" in str(result.fix)


def test_an_enabled_timer_that_runs_something_else_is_no_cleanup_job(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    write_units(user_units(setup), program="/usr/bin/backup", enabled=True)
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN and "no cleanup job" in result.message


def test_no_cron_and_no_timer_warns_naming_both(tmp_path: Path) -> None:
    setup = no_cron(tmp_path)
    result = check_cleanup_job(setup)
    assert result.status is Status.WARN
    assert "crontab" in result.message and "systemd timer" in result.message, result
    assert "make provision" in str(result.fix)

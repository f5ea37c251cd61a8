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

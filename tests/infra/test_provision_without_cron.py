"""`make provision` as a normal user on machines without cron (issue 10).

Installing cron needs root, so the cleanup role schedules the job as a systemd
user timer where systemd is installed, and otherwise says that nothing cleans
up. Either way every other step is done and provisioning succeeds, twice.
No container here runs a systemd user manager: the timer is written and
enabled on disk, and provisioning says that it waits for one.
"""

from __future__ import annotations

import json

import pytest
from containers import Container, recap_changed

pytestmark = pytest.mark.docker

USER, HOME = "dev", "/home/dev"
TARGET_DIR = f"{HOME}/.cache/cargo-target"
WRAPPER = f"{HOME}/.local/bin/buildcache"
UNIT_DIR = f"{HOME}/.config/systemd/user"
NOT_SCHEDULED = "the cleanup job is NOT scheduled"
NO_USER_MANAGER = "no systemd user manager is reachable"


def provision_without_cron(box: Container) -> Container:
    """Remove cron, then `make provision` twice as a user without root."""
    box.check("dpkg --purge cron && ! command -v crontab")
    box.check(f"useradd --create-home --shell /bin/bash {USER}")
    box.check(f"cp -a /src {HOME}/src && chown -R {USER}: {HOME}/src")
    for attempt in ("first", "second"):
        run = box.exec(f"make -C {HOME}/src provision", user=USER, workdir=HOME)
        assert run.exit_code == 0, f"{attempt} make provision failed:\n{run.output}"
        box.runs[attempt] = run
    return box


@pytest.fixture(scope="module")
def bare_box(start_container) -> Container:  # type: ignore[no-untyped-def]
    """Neither cron nor systemd (the base image has no systemd)."""
    box = start_container()
    assert box.exec("command -v systemctl").exit_code != 0
    return provision_without_cron(box)


@pytest.fixture(scope="module")
def systemd_box(start_container, systemd_image) -> Container:  # type: ignore[no-untyped-def]
    """systemd installed, but no user manager running."""
    return provision_without_cron(start_container(image=systemd_image))


def doctor_checks(box: Container) -> dict[str, dict[str, str]]:
    """`buildcache doctor --json` as the user in a login shell, by check name."""
    run = box.exec("bash -lc 'buildcache doctor --json'", user=USER, workdir=HOME)
    return {check["name"]: check for check in json.loads(run.output)["checks"]}


def assert_everything_else_is_provisioned(box: Container) -> None:
    """What the roles before the cleanup role do, as test_provision_user checks it."""
    host = box.testinfra_host(USER)
    assert host.check_output("bash -lc 'command -v buildcache'") == WRAPPER
    assert host.check_output("bash -lc 'buildcache --version'").startswith("buildcache ")
    cargo_config = host.file(f"{HOME}/.cargo/config.toml").content_string
    assert f'rustc-wrapper = "{WRAPPER}"' in cargo_config
    assert f'target-dir = "{TARGET_DIR}"' in cargo_config
    assert host.file(TARGET_DIR).is_directory
    assert f"BUILDCACHE_DIR = {HOME}/.cache/buildcache" in (
        host.file(f"{HOME}/.config/buildcache/buildcache.conf").content_string
    )
    aliases = host.check_output("bash -ic alias 2>/dev/null")
    assert f"buildcache sweep {TARGET_DIR} --time 14" in aliases
    checks = doctor_checks(box)
    broken = {
        name: c for name, c in checks.items() if c["status"] != "ok" and name != "cleanup-job"
    }
    assert not broken, broken


def test_without_cron_or_systemd_provisioning_finishes_and_says_what_is_missing(bare_box) -> None:  # type: ignore[no-untyped-def]
    first, second = bare_box.runs["first"].output, bare_box.runs["second"].output
    assert recap_changed(first) > 0
    assert recap_changed(second) == 0
    assert "failed=0" in second
    for output in (first, second):
        assert NOT_SCHEDULED in output, output[-3000:]
        assert "neither cron nor systemd" in output
        assert "ask an administrator for the cron package" in output
    # The Makefile's closing lines still follow.
    assert any("buildcache doctor" in line for line in second.strip().splitlines()[-6:])


def test_without_cron_or_systemd_everything_else_is_set_up(bare_box) -> None:  # type: ignore[no-untyped-def]
    assert_everything_else_is_provisioned(bare_box)
    assert bare_box.exec(f"test -e {UNIT_DIR}").exit_code != 0  # nothing half-written


def test_without_cron_or_systemd_doctor_warns_that_nothing_cleans_up(bare_box) -> None:  # type: ignore[no-untyped-def]
    cleanup = doctor_checks(bare_box)["cleanup-job"]
    assert cleanup["status"] == "warn", cleanup
    assert "no cleanup job" in cleanup["message"]


def test_with_systemd_the_job_is_a_user_timer_that_waits_for_a_user_manager(systemd_box) -> None:  # type: ignore[no-untyped-def]
    first, second = systemd_box.runs["first"].output, systemd_box.runs["second"].output
    assert recap_changed(first) > 0
    assert recap_changed(second) == 0
    for output in (first, second):
        assert NOT_SCHEDULED not in output
        assert NO_USER_MANAGER in output, output[-3000:]
        assert "loginctl enable-linger dev" in output


def test_with_systemd_everything_else_is_set_up(systemd_box) -> None:  # type: ignore[no-untyped-def]
    assert_everything_else_is_provisioned(systemd_box)


def test_the_timer_units_are_written_and_enabled(systemd_box) -> None:  # type: ignore[no-untyped-def]
    host = systemd_box.testinfra_host(USER)
    service = host.file(f"{UNIT_DIR}/buildcache-cleanup.service")
    timer = host.file(f"{UNIT_DIR}/buildcache-cleanup.timer")
    for unit in (service, timer):
        assert unit.user == USER and unit.mode == 0o644
        assert unit.content_string.startswith("# Managed by ansible")
    assert f"ExecStart=-{WRAPPER} sweep {TARGET_DIR} --time 14\n" in service.content_string
    assert f"ExecStart={WRAPPER} trim\n" in service.content_string
    assert "OnCalendar=*-*-* 4:17:00\n" in timer.content_string
    # Enabled as `systemctl --user enable` does it, so the manager starts it at login.
    link = host.file(f"{UNIT_DIR}/timers.target.wants/buildcache-cleanup.timer")
    assert link.is_symlink and link.linked_to == timer.path
    # systemd itself accepts both units (verify loads the service the timer starts and
    # checks that its programs exist); it wants a runtime dir, which no session made here.
    host.check_output(
        f'XDG_RUNTIME_DIR="$(mktemp -d)" systemd-analyze --user verify {timer.path} 2>&1'
    )


def test_doctor_takes_the_enabled_timer_for_the_cleanup_job(systemd_box) -> None:  # type: ignore[no-untyped-def]
    cleanup = doctor_checks(systemd_box)["cleanup-job"]
    assert cleanup["status"] == "ok", cleanup
    assert f"{UNIT_DIR}/buildcache-cleanup.timer" in cleanup["message"]


def test_once_cron_is_installed_it_takes_over_from_the_timer(systemd_box) -> None:  # type: ignore[no-untyped-def]
    """An administrator installs cron later: the next provisioning moves the job to the
    crontab and removes the timer, so the job does not run twice. Last in this module:
    it changes the container."""
    systemd_box.check("dpkg --install /var/cache/buildcache-test/cron_*.deb")
    run = systemd_box.exec(f"make -C {HOME}/src provision", user=USER, workdir=HOME)
    assert run.exit_code == 0, run.output
    host = systemd_box.testinfra_host(USER)
    crontab = host.check_output("crontab -l")
    assert f"{WRAPPER} sweep {TARGET_DIR} --time 14" in crontab
    for name in (
        "buildcache-cleanup.service",
        "buildcache-cleanup.timer",
        "timers.target.wants/buildcache-cleanup.timer",
    ):
        assert not host.file(f"{UNIT_DIR}/{name}").exists, name
    cleanup = doctor_checks(systemd_box)["cleanup-job"]
    assert cleanup["status"] == "ok" and "crontab" in cleanup["message"], cleanup

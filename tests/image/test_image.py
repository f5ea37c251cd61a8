"""The built image as a developer or a CI job meets it: user, tools, wiring, cron."""

from __future__ import annotations

import json
import re

import pytest
import tomllib

pytestmark = pytest.mark.docker

USER, UID = "dev", 1000
WRAPPER = "/usr/local/bin/buildcache"


def test_the_default_user_is_dev_not_root(image, host) -> None:  # type: ignore[no-untyped-def]
    assert image["User"] == USER
    user = host.user()
    assert (user.name, user.uid, user.home) == (USER, UID, f"/home/{USER}")


def test_buildcache_is_on_path_for_login_and_plain_shells(host) -> None:  # type: ignore[no-untyped-def]
    for shell in ("sh -c", "bash -lc"):
        assert host.check_output(f"{shell} 'command -v buildcache'") == WRAPPER
        assert host.check_output(f"{shell} 'buildcache --version'").startswith("buildcache ")


def test_rust_is_recent_enough_for_todays_crates(host) -> None:  # type: ignore[no-untyped-def]
    """bookworm's rustc package is 1.63; clap 4 alone needs 1.74."""
    for tool in ("rustc", "cargo"):
        found = re.match(r"\S+ (\d+)\.(\d+)\.", host.check_output(f"{tool} --version"))
        assert found, tool
        assert (int(found[1]), int(found[2])) >= (1, 74), host.check_output(f"{tool} --version")


def test_cargo_runs_rustc_through_buildcache_for_the_user(host, image_env) -> None:  # type: ignore[no-untyped-def]
    config = tomllib.loads(host.file(f"/home/{USER}/.cargo/config.toml").content_string)
    assert config["build"]["rustc-wrapper"] == WRAPPER
    assert config["build"]["target-dir"] == image_env["CARGO_TARGET_DIR"]
    assert "RUSTC_WRAPPER" not in image_env  # nothing overrides the config file
    doctor = json.loads(host.run("buildcache doctor --json").stdout)
    checks = {check["name"]: check for check in doctor["checks"]}
    assert doctor["ok"], doctor
    assert checks["cargo-wrapper"]["status"] == "ok", checks["cargo-wrapper"]
    assert checks["cleanup-job"]["status"] == "ok", checks["cleanup-job"]


def test_interactive_bash_has_the_aliases(host, image_env) -> None:  # type: ignore[no-untyped-def]
    aliases = host.check_output("bash -ic alias 2>/dev/null")
    assert "alias buildcache-stats=" in aliases, aliases
    cleanup = next(line for line in aliases.splitlines() if line.startswith("alias cleanup="))
    assert f"{WRAPPER} sweep {image_env['CARGO_TARGET_DIR']} --time 14" in cleanup
    assert f"{WRAPPER} trim" in cleanup


def test_the_cleanup_job_is_scheduled_and_cron_runs(host, image_env) -> None:  # type: ignore[no-untyped-def]
    jobs = [
        line
        for line in host.file("/etc/cron.d/buildcache").content_string.splitlines()
        if line and not line.startswith("#")
    ]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    assert fields[5] == USER
    assert f"{WRAPPER} sweep {image_env['CARGO_TARGET_DIR']}" in fields[6]
    # Containers have no init: the entrypoint started the daemon, via sudo.
    assert host.process.filter(comm="cron"), host.check_output("ps -ef")


def test_volume_mount_points_exist_and_belong_to_the_user(host, image_env) -> None:  # type: ignore[no-untyped-def]
    for variable in ("CARGO_TARGET_DIR", "BUILDCACHE_DIR"):
        directory = host.file(image_env[variable])
        assert directory.is_directory, variable
        assert (directory.uid, directory.gid) == (UID, UID), variable
    conf = host.file("/etc/buildcache.conf").content_string
    assert f"BUILDCACHE_DIR = {image_env['BUILDCACHE_DIR']}" in conf


def test_ansible_was_only_needed_at_build_time(host) -> None:  # type: ignore[no-untyped-def]
    assert not host.exists("ansible-playbook")
    assert not host.file("/tmp/buildcache-kit").exists
    assert host.run("/opt/buildcache/venv/bin/python -c 'import ansible'").rc != 0


def test_docker_run_runs_the_given_command(docker_client, image_name) -> None:  # type: ignore[no-untyped-def]
    out = docker_client.containers.run(image_name, ["cargo", "--version"], remove=True)
    assert out.decode().startswith("cargo "), out
    # A user without sudo cannot start cron; the command still runs, with a note.
    out = docker_client.containers.run(
        image_name, ["sh", "-c", "echo ran as $(id -u)"], user="4321", remove=True, stderr=True
    )
    assert "ran as 4321" in out.decode(), out

"""`make provision` as root in a fresh container, twice, as the issue's 'done when' says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from containers import ROOT_TARGET_DIR, Container, recap_changed, tar_of
from rust_workspace import FILES, make_workspace

pytestmark = pytest.mark.docker

# `cargo clean` (1.85) removes the target dir itself, which fails on a named
# volume's mount point (EBUSY) after emptying it: empty it without cargo.
EMPTY_SHARED_TARGET_DIR = f"find {ROOT_TARGET_DIR} -mindepth 1 -delete"


@pytest.fixture(scope="module")
def root_box(start_container) -> Container:  # type: ignore[no-untyped-def]
    box = start_container(volume_at=ROOT_TARGET_DIR)
    for attempt in ("first", "second"):
        run = box.exec("make -C /src provision")
        assert run.exit_code == 0, f"{attempt} make provision failed:\n{run.output}"
        box.runs[attempt] = run
    return box


@pytest.fixture(scope="module")
def host(root_box):  # type: ignore[no-untyped-def]
    return root_box.testinfra_host()


def put_workspace(box: Container, directory: str, tmp_path: Path) -> None:
    make_workspace(tmp_path / "ws")
    box.put(directory, tar_of({name: tmp_path / "ws" / name for name in FILES}))


def test_first_run_changes_the_machine_and_the_second_changes_nothing(root_box) -> None:  # type: ignore[no-untyped-def]
    assert recap_changed(root_box.runs["first"].output) > 0
    assert recap_changed(root_box.runs["second"].output) == 0


def test_provision_ends_with_what_to_do_next(root_box) -> None:  # type: ignore[no-untyped-def]
    tail = root_box.runs["second"].output.strip().splitlines()[-6:]
    assert any("new shell" in line for line in tail), tail
    assert any("buildcache doctor" in line for line in tail), tail


def test_a_login_shell_finds_buildcache(host) -> None:  # type: ignore[no-untyped-def]
    assert host.check_output("bash -lc 'command -v buildcache'") == "/usr/local/bin/buildcache"
    assert host.check_output("bash -lc 'buildcache --version'").startswith("buildcache ")
    # Installed in its own virtualenv; the launch client written over pip's script,
    # running the virtualenv's interpreter (the box has cc, as every Rust machine).
    content = host.file("/opt/buildcache/venv/bin/buildcache").content
    assert content.startswith(b"\x7fELF"), content[:80]
    assert b"buildcache launch client; python=/opt/buildcache/venv/bin/python3\0" in content


def test_cargo_config_wires_the_wrapper_and_the_shared_target_dir(host) -> None:  # type: ignore[no-untyped-def]
    config = tomllib.loads(host.file("/root/.cargo/config.toml").content_string)
    assert config["build"]["rustc-wrapper"] == "/usr/local/bin/buildcache"
    assert config["build"]["target-dir"] == ROOT_TARGET_DIR


def test_buildcache_reads_the_cache_settings_from_the_system_config_file(host) -> None:  # type: ignore[no-untyped-def]
    conf = host.file("/etc/buildcache.conf")
    assert conf.mode == 0o644
    # The package's own resolver, without any BUILDCACHE_* in the environment,
    # as cron and IDEs run it.
    out = host.check_output(
        "env -i HOME=/root /opt/buildcache/venv/bin/python -c "
        "'from buildcache.config import load_config; c = load_config(); "
        'print(c.cache_dir, c.max_bytes, c.origins["BUILDCACHE_DIR"])\''
    )
    assert out == f"/var/cache/buildcache {10 << 30} /etc/buildcache.conf"
    assert host.file("/var/cache/buildcache").is_directory


def test_interactive_bash_and_zsh_have_the_aliases(host) -> None:  # type: ignore[no-untyped-def]
    for shell in ("bash", "zsh"):
        aliases = host.check_output(f"{shell} -ic alias 2>/dev/null")
        assert "cleanup=" in aliases, (shell, aliases)
        lines = aliases.splitlines()
        cleanup = next(line for line in lines if line.startswith(("cleanup=", "alias cleanup=")))
        assert f"buildcache sweep {ROOT_TARGET_DIR} --time 14" in cleanup
        assert "buildcache trim" in cleanup
        assert "buildcache-stats=" in aliases
        assert "buildcache-doctor=" in aliases
    # Aliases are for people: a script's shell does not get them.
    assert "cleanup" not in host.check_output("bash -c 'source ~/.bashrc; alias'")


def test_the_cron_entry_sweeps_the_target_dir_and_trims_the_cache(host) -> None:  # type: ignore[no-untyped-def]
    cron = host.file("/etc/cron.d/buildcache")
    assert cron.user == "root"
    assert cron.mode == 0o644
    jobs = [line for line in cron.content_string.splitlines() if line and not line.startswith("#")]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    assert fields[5] == "root"
    command = fields[6]
    assert f"/usr/local/bin/buildcache sweep {ROOT_TARGET_DIR} --time 14" in command
    assert "/usr/local/bin/buildcache trim" in command


def test_the_shared_target_dir_is_the_named_volume(root_box, host) -> None:  # type: ignore[no-untyped-def]
    assert host.mount_point(ROOT_TARGET_DIR).exists
    assert host.file(ROOT_TARGET_DIR).user == "root"


def test_two_workspaces_build_into_the_one_shared_target_dir(root_box, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Debian's Rust builds the fixture; cargo honours the managed config."""
    put_workspace(root_box, "/work/one", tmp_path / "one")
    put_workspace(root_box, "/work/two", tmp_path / "two")
    # RUSTC_WRAPPER= bypasses the wrapper so this checks the config and the
    # target dir on their own; the next test goes through buildcache.
    first = root_box.check("RUSTC_WRAPPER= cargo build 2>&1", workdir="/work/one")
    second = root_box.check("RUSTC_WRAPPER= cargo build 2>&1", workdir="/work/two")
    assert "Compiling app" in first
    # cargo fingerprints workspace members by their path relative to the
    # workspace root, so a second checkout of the same workspace finds its
    # artifacts already fresh in the shared dir: nothing is compiled again.
    assert "Compiling" not in second, second
    assert root_box.exec("test -e /work/one/target || test -e /work/two/target").exit_code != 0
    assert "core:42" in root_box.check(f"{ROOT_TARGET_DIR}/debug/app")


def test_a_cargo_build_goes_through_buildcache(root_box, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Cold build: every unit is a miss; rebuild after emptying the shared target dir:
    every unit is a hit and the program prints the same."""
    units = 6  # build script, gen_lib, core_lib, hello_derive, where_am_i, app
    put_workspace(root_box, "/work/cached", tmp_path / "cached")
    # Other tests share this container, its target dir and its cache: start empty.
    root_box.check("find /var/cache/cargo-target /var/cache/buildcache -mindepth 1 -delete")
    root_box.check("cargo build 2>&1", workdir="/work/cached")
    first = json.loads(root_box.check("buildcache stats --json"))
    assert (first["misses"], first["hits"], first["errors"]) == (units, 0, 0), first
    printed = root_box.check("/var/cache/cargo-target/debug/app")
    assert "core:42" in printed

    # The shared target dir is a volume's mount point, which `cargo clean` cannot
    # remove (EBUSY); empty it instead.
    root_box.check("find /var/cache/cargo-target -mindepth 1 -delete")
    root_box.check("buildcache stats --zero")
    root_box.check("cargo build 2>&1", workdir="/work/cached")
    second = json.loads(root_box.check("buildcache stats --json"))
    assert (second["hits"], second["misses"], second["errors"]) == (units, 0, 0), second
    assert root_box.check("/var/cache/cargo-target/debug/app") == printed


def test_a_wrong_variable_fails_early_and_names_it(root_box) -> None:  # type: ignore[no-untyped-def]
    for assignment, name in (
        ("cleanup_cron_days=soon", "cleanup_cron_days"),
        ("cleanup_cron_state=maybe", "cleanup_cron_state"),
        ("buildcache_max_size=lots", "buildcache_max_size"),
    ):
        run = root_box.exec(f"make -C /src provision PROVISION_ARGS='-e {assignment}'")
        assert run.exit_code != 0, run.output
        assert name in run.output, run.output
        assert "PLAY RECAP" in run.output and "failed=1" in run.output


REMOTE_PASSWORD = "pw-never-printed-4711"
SIGNING_KEY = "signing-key-never-printed-0123456789"
REMOTE_VARS = f"""\
buildcache_remote:
  - redis://:{REMOTE_PASSWORD}@cache.internal:6379/0
  - https://dav.example/bc/
buildcache_remote_read_only: true
buildcache_remote_timeout: "1.5"
buildcache_remote_signing_key: {SIGNING_KEY}
""".encode()


def test_remote_settings_reach_only_the_user_and_never_the_output(root_box) -> None:  # type: ignore[no-untyped-def]
    """Root provisions the machine for `dev` with a remote tier and a signing key: dev's
    buildcache reads them, other accounts cannot, and no run prints a secret, even with
    --diff -v. Last in this module: it hands the machine to dev."""
    root_box.check("useradd --create-home --shell /bin/bash dev && useradd --create-home other")
    root_box.put("/tmp", tar_of({"remote-vars.yml": REMOTE_VARS}))
    args = "--diff -v -e @/tmp/remote-vars.yml -e provision_user=dev"
    runs = []
    for attempt in ("first", "second"):
        run = root_box.exec(f"make -C /src provision PROVISION_ARGS='{args}'")
        assert run.exit_code == 0, f"{attempt} provision with a remote failed:\n{run.output}"
        runs.append(run.output)
    for output in runs:
        assert REMOTE_PASSWORD not in output
        assert SIGNING_KEY not in output
    assert recap_changed(runs[1]) == 0, runs[1]

    host = root_box.testinfra_host()
    conf = host.file("/etc/buildcache.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "dev", 0o640)
    key_file = host.file("/etc/buildcache-remote-signing.key")
    assert (key_file.user, key_file.group, key_file.mode) == ("root", "dev", 0o640)
    assert key_file.content_string == SIGNING_KEY
    text = conf.content_string
    assert SIGNING_KEY not in text  # the key has its own file
    assert "BUILDCACHE_REMOTE_SIGNING_KEY_FILE = /etc/buildcache-remote-signing.key" in text
    assert "BUILDCACHE_REMOTE_READ_ONLY = 1" in text

    # dev's buildcache, with no BUILDCACHE_* in its environment, reads all of it...
    shown = json.loads(
        root_box.check("env -i HOME=/home/dev /usr/local/bin/buildcache config --json", user="dev")
    )
    printed = json.dumps(shown)
    assert REMOTE_PASSWORD not in printed and SIGNING_KEY not in printed, printed
    assert "cache.internal" in printed and "dav.example" in printed, printed
    table = root_box.check("env -i HOME=/home/dev /usr/local/bin/buildcache config", user="dev")
    assert REMOTE_PASSWORD not in table and SIGNING_KEY not in table, table
    # ...and another account can read neither file.
    for path in ("/etc/buildcache.conf", "/etc/buildcache-remote-signing.key"):
        assert root_box.exec(f"cat {path}", user="other").exit_code != 0, path

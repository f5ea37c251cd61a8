"""`make provision` as a normal user without root, over that user's own dotfiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from containers import Container, recap_changed, tar_of
from rust_workspace import FILES, make_workspace

pytestmark = pytest.mark.docker

USER, HOME = "dev", "/home/dev"
TARGET_DIR = f"{HOME}/.cache/cargo-target"
WRAPPER = f"{HOME}/.local/bin/buildcache"

# The user's own cargo config, with its own [build] table: a second [build]
# header, or a dotted build.x key before it, would make cargo refuse the file.
USER_CARGO_CONFIG = b"""\
# my cargo settings
[build]
jobs = 2  # keep the machine usable

[profile.dev]
debug = 1

[term]
verbose = false
"""
USER_BASHRC_TAIL = b"""
# my own additions
alias ll='ls -la'
export EDITOR=vi
"""


def without_managed_blocks(text: bytes) -> bytes:
    """The file as it would be had provisioning never touched it."""
    return re.sub(rb"(?ms)^# BEGIN buildcache kit.*?^# END buildcache kit[^\n]*\n", b"", text)


@pytest.fixture(scope="module")
def user_box(start_container) -> Container:  # type: ignore[no-untyped-def]
    box = start_container()
    box.check(f"useradd --create-home --shell /bin/bash {USER}")
    skel_bashrc = box.check("cat /etc/skel/.bashrc").encode()
    box.originals = {  # type: ignore[attr-defined]
        ".bashrc": skel_bashrc + USER_BASHRC_TAIL,
        ".cargo/config.toml": USER_CARGO_CONFIG,
    }
    uid = int(box.check(f"id -u {USER}"))
    box.put(HOME, tar_of(box.originals, uid=uid, gid=uid))  # type: ignore[attr-defined]
    box.check(f"cp -a /src {HOME}/src && chown -R {USER}: {HOME}/src {HOME}/.cargo")
    for attempt in ("first", "second"):
        run = box.exec(f"make -C {HOME}/src provision", user=USER, workdir=HOME)
        assert run.exit_code == 0, f"{attempt} make provision failed:\n{run.output}"
        box.runs[attempt] = run
    return box


@pytest.fixture(scope="module")
def host(user_box):  # type: ignore[no-untyped-def]
    return user_box.testinfra_host(USER)


def test_the_user_is_provisioned_without_root(user_box, host) -> None:  # type: ignore[no-untyped-def]
    assert host.user().name == USER
    assert recap_changed(user_box.runs["first"].output) > 0
    assert recap_changed(user_box.runs["second"].output) == 0
    # Nothing outside the home directory was touched.
    for path in ("/usr/local/bin/buildcache", "/etc/buildcache.conf", "/etc/cron.d/buildcache"):
        assert not host.file(path).exists, path


def test_a_login_shell_finds_buildcache_in_the_users_home(host) -> None:  # type: ignore[no-untyped-def]
    assert host.check_output("bash -lc 'command -v buildcache'") == WRAPPER
    assert host.file(WRAPPER).is_symlink
    assert host.file(f"{HOME}/.local/share/buildcache/venv/bin/buildcache").user == USER


def test_the_users_bashrc_is_kept_byte_for_byte_outside_the_block(user_box, host) -> None:  # type: ignore[no-untyped-def]
    bashrc = host.file(f"{HOME}/.bashrc")
    assert bashrc.user == USER
    assert without_managed_blocks(bashrc.content) == user_box.originals[".bashrc"]
    aliases = host.check_output("bash -ic alias 2>/dev/null")
    assert "alias ll='ls -la'" in aliases  # the user's own alias still works
    assert f"buildcache sweep {TARGET_DIR} --time 14" in aliases


def test_the_users_cargo_config_keeps_its_build_table_and_stays_valid(user_box, host) -> None:  # type: ignore[no-untyped-def]
    text = host.file(f"{HOME}/.cargo/config.toml").content
    assert without_managed_blocks(text) == user_box.originals[".cargo/config.toml"]
    assert len(re.findall(rb"^\s*\[build\]", text, flags=re.MULTILINE)) == 1, text
    config = tomllib.loads(text.decode())
    assert config["build"] == {"jobs": 2, "rustc-wrapper": WRAPPER, "target-dir": TARGET_DIR}
    assert config["profile"]["dev"]["debug"] == 1


def test_cargo_parses_the_merged_config_and_uses_both_keys(user_box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_workspace(tmp_path / "ws")
    uid = int(user_box.check(f"id -u {USER}"))
    user_box.put(f"{HOME}/ws", tar_of({n: tmp_path / "ws" / n for n in FILES}, uid=uid, gid=uid))
    user_box.check(f"chown {USER}: {HOME}/ws")
    # Through the wrapper: cargo names it whether or not the wrapper works yet.
    through = user_box.exec("cargo build -v 2>&1", user=USER, workdir=f"{HOME}/ws")
    assert WRAPPER in through.output, through.output
    # Without the wrapper, the build must succeed into the shared target dir.
    user_box.check("cargo clean; RUSTC_WRAPPER= cargo build 2>&1", user=USER, workdir=f"{HOME}/ws")
    assert "core:42" in user_box.check(f"{TARGET_DIR}/debug/app", user=USER)
    assert user_box.exec(f"test -e {HOME}/ws/target").exit_code != 0


def test_the_cleanup_job_is_in_the_users_crontab(host) -> None:  # type: ignore[no-untyped-def]
    crontab = host.check_output("crontab -l")
    jobs = [line for line in crontab.splitlines() if line and not line.startswith("#")]
    assert len(jobs) == 1, crontab
    assert f"{WRAPPER} sweep {TARGET_DIR} --time 14" in jobs[0]
    assert f"{WRAPPER} trim" in jobs[0]


def test_the_users_config_file_names_the_cache(host) -> None:  # type: ignore[no-untyped-def]
    conf = host.file(f"{HOME}/.config/buildcache/buildcache.conf")
    assert conf.user == USER
    assert f"BUILDCACHE_DIR = {HOME}/.cache/buildcache" in conf.content_string
    assert "BUILDCACHE_MAX_SIZE = 10G" in conf.content_string

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from doctor_setup import make_setup

from buildcache.cache import counters
from buildcache.config import Config, load_config
from buildcache.doctor.cache_checks import (
    check_cache_dir,
    check_config,
    check_disable,
    check_size_cap,
)
from buildcache.doctor.model import Status


def config_for(tmp_path: Path, **env: str) -> Config:
    result, config = check_config(make_setup(tmp_path, **env))
    assert result.status is Status.OK and config is not None
    return config


def test_config_ok(tmp_path: Path) -> None:
    result, config = check_config(make_setup(tmp_path))
    assert result.status is Status.OK and config is not None


def test_a_bad_value_fails_naming_the_variable(tmp_path: Path) -> None:
    result, config = check_config(make_setup(tmp_path, BUILDCACHE_DISABLE="maybe"))
    assert config is None and result.status is Status.FAIL
    assert "BUILDCACHE_DISABLE" in result.message and "BUILDCACHE_DISABLE" in str(result.fix)


def test_a_bad_config_file_line_fails(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    Path(setup.environ["BUILDCACHE_CONFIG"]).write_text("NOT_OURS = 1\n")
    result, _ = check_config(setup)
    assert result.status is Status.FAIL and "buildcache.conf:1" in result.message


def test_disable(tmp_path: Path) -> None:
    assert check_disable(config_for(tmp_path)).status is Status.OK
    result = check_disable(config_for(tmp_path, BUILDCACHE_DISABLE="1"))
    assert result.status is Status.FAIL and "unset BUILDCACHE_DISABLE" in str(result.fix)


def test_disable_from_a_config_file_says_which_file(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    conf = Path(setup.environ["BUILDCACHE_CONFIG"])
    conf.write_text("BUILDCACHE_DISABLE = yes\n")
    result = check_disable(load_config(dict(setup.environ)))
    assert result.status is Status.FAIL and str(conf) in str(result.fix)


def test_cache_dir_writable_or_creatable(tmp_path: Path) -> None:
    result = check_cache_dir(config_for(tmp_path))
    assert result.status is Status.OK and "can be created" in result.message
    (tmp_path / "cache").mkdir()
    assert check_cache_dir(config_for(tmp_path)).message.endswith("is writable")


def test_cache_dir_behind_a_file_fails_naming_buildcache_dir(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    result = check_cache_dir(config_for(tmp_path, BUILDCACHE_DIR=str(tmp_path / "blocker/c")))
    assert result.status is Status.FAIL
    assert "BUILDCACHE_DIR" in result.message and "BUILDCACHE_DIR" in str(result.fix)


@contextmanager
def unwritable_dir(path: Path) -> Iterator[None]:
    """Make path unwritable even for root: permission bits for a user, the immutable
    attribute (chattr +i) for root, who writes through permission bits."""
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o700)


def test_a_shard_that_is_not_a_directory_is_ignored_but_an_unwritable_one_fails(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    (cache / "a").mkdir(parents=True)
    assert check_cache_dir(config_for(tmp_path)).status is Status.OK
    with unwritable_dir(cache / "a"):
        result = check_cache_dir(config_for(tmp_path))
    assert result.status is Status.FAIL and str(cache / "a") in result.message


def test_size_cap_ok(tmp_path: Path) -> None:
    result = check_size_cap(config_for(tmp_path, BUILDCACHE_MAX_SIZE="1G"))
    assert result.status is Status.OK and "cap 1.0 GiB" in result.message


def test_a_cap_larger_than_the_disk_warns(tmp_path: Path) -> None:
    result = check_size_cap(config_for(tmp_path, BUILDCACHE_MAX_SIZE="100000T"))
    assert result.status is Status.WARN and "BUILDCACHE_MAX_SIZE" in str(result.fix)


def test_a_cache_over_its_cap_warns(tmp_path: Path) -> None:
    config = config_for(tmp_path, BUILDCACHE_MAX_SIZE="1G")
    os.makedirs(config.cache_dir, exist_ok=True)  # the wrapper creates it before counting
    counters.update_shard(config.cache_dir, "0", {"bytes": 2 << 30})
    result = check_size_cap(config)
    assert result.status is Status.WARN and "buildcache trim" in str(result.fix)


def test_a_tiny_cap_warns(tmp_path: Path) -> None:
    result = check_size_cap(config_for(tmp_path, BUILDCACHE_MAX_SIZE="10M"))
    assert result.status is Status.WARN and "very small" in result.message

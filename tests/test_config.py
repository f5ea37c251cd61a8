from __future__ import annotations

from pathlib import Path

import pytest

from buildcache.config import DEFAULT_COMPRESSION_LEVEL, ConfigError, load_config
from buildcache.sizes import parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10G", 10 << 30), ("500M", 500 << 20), ("1.5G", int(1.5 * (1 << 30))), ("2048", 2048),
     ("4k", 4096), ("1T", 1 << 40), ("3GiB", 3 << 30), ("7MB", 7 << 20),
     # what format_size prints reads back (found by tests/fuzz/test_fuzz_sizes.py)
     ("100 B", 100), ("512B", 512), ("1.5 GiB", int(1.5 * (1 << 30)))],
)  # fmt: skip
def test_sizes_take_k_m_g_t_suffixes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "G", "10X", "-1G", "ten", "1.2.3M", "nan", "inf", "B", "iB", "10iB", "GB",
     # finite numbers that overflow once multiplied by the unit: were an OverflowError
     "1e308G", "9" * 400 + "T"],
)  # fmt: skip
def test_a_bad_size_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="BUILDCACHE_MAX_SIZE"):
        parse_size(text, variable="BUILDCACHE_MAX_SIZE")


def test_defaults_follow_xdg(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    config = load_config()
    assert config.cache_dir == str(isolated_home / ".cache" / "buildcache")
    assert config.max_bytes == 10 << 30 and not config.disabled
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert load_config().cache_dir == "/xdg/buildcache"


def test_environment_beats_user_file_beats_system_file(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    (isolated_home / "system-buildcache.conf").write_text(
        "BUILDCACHE_MAX_SIZE = 1G\nBUILDCACHE_DIR = /sys/cache\n"
    )
    (isolated_home / "buildcache.conf").write_text("# mine\nBUILDCACHE_MAX_SIZE = 2G\n")
    config = load_config()
    assert config.max_bytes == 2 << 30 and config.cache_dir == "/sys/cache"
    assert config.origins["BUILDCACHE_DIR"].endswith("system-buildcache.conf")
    monkeypatch.setenv("BUILDCACHE_MAX_SIZE", "3G")
    config = load_config()
    assert config.max_bytes == 3 << 30 and config.origins["BUILDCACHE_MAX_SIZE"] == "environment"


@pytest.mark.parametrize(
    ("name", "value"),
    [("BUILDCACHE_DIR", "relative/dir"), ("BUILDCACHE_DISABLE", "maybe"),
     ("BUILDCACHE_BACKGROUND_STORE", "later"), ("BUILDCACHE_LAUNCH_SERVER", "nope"),
     ("BUILDCACHE_MAX_SIZE", "lots"), ("BUILDCACHE_MAX_SIZE", "10")],
)  # fmt: skip
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_config()


def test_a_bad_config_file_line_names_the_file(isolated_home: Path) -> None:
    (isolated_home / "buildcache.conf").write_text("BUILDCACHE_MAX = 1G\n")
    with pytest.raises(ConfigError, match="buildcache.conf:1"):
        load_config()


def test_a_relative_log_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """It would be appended to in every rustc call's working directory (Cargo.toml...)."""
    monkeypatch.setenv("BUILDCACHE_LOG", "Cargo.toml")
    with pytest.raises(ConfigError, match="BUILDCACHE_LOG"):
        load_config()


def test_a_config_file_that_is_not_text_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "buildcache.conf"
    config.write_bytes(b"BUILDCACHE_MAX_SIZE = 5G \xff\n")
    monkeypatch.setenv("BUILDCACHE_CONFIG", str(config))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config()


# Found by tests/fuzz/test_fuzz_config.py; each failed before its fix.


def test_a_hash_inside_a_value_is_not_a_comment(isolated_home: Path) -> None:
    """The role writes `BUILDCACHE_DIR = <dir>` unquoted: a dir with a '#' was cut there
    and the cache went to another directory."""
    (isolated_home / "buildcache.conf").write_text(
        "BUILDCACHE_DIR = /srv/c#/cache  # where the cache lives\n# BUILDCACHE_LOG = /x\n"
    )
    config = load_config()
    assert config.cache_dir == "/srv/c#/cache" and config.log == ""


def test_values_keep_unicode_line_separators_and_lone_carriage_returns(
    isolated_home: Path,
) -> None:
    (isolated_home / "buildcache.conf").write_bytes(
        "BUILDCACHE_DIR = /a\u2028b\r\nBUILDCACHE_LOG = /l\rog\n".encode()
    )
    config = load_config()
    assert config.cache_dir == "/a\u2028b" and config.log == "/l\rog"


def test_a_byte_order_mark_is_not_part_of_the_first_name(isolated_home: Path) -> None:
    (isolated_home / "buildcache.conf").write_text("\ufeffBUILDCACHE_MAX_SIZE = 2G\n")
    assert load_config().max_bytes == 2 << 30


@pytest.mark.parametrize("line", ["BUILDCACHE_DIR = ~a\0b/cache", "BUILDCACHE_LOG = /tmp/a\0b"])
def test_a_nul_byte_in_a_file_value_is_a_config_error(isolated_home: Path, line: str) -> None:
    """expanduser raised ValueError: the CLI failed with a traceback."""
    (isolated_home / "buildcache.conf").write_text(line + "\n")
    with pytest.raises(ConfigError, match=line.split()[0]):
        load_config()


def test_compression_is_on_by_default_and_0_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    config = load_config()
    assert config.compression_level == DEFAULT_COMPRESSION_LEVEL > 0
    assert config.origins["BUILDCACHE_COMPRESSION_LEVEL"] == "default"
    (isolated_home / "buildcache.conf").write_text("BUILDCACHE_COMPRESSION_LEVEL = 19\n")
    assert load_config().compression_level == 19
    monkeypatch.setenv("BUILDCACHE_COMPRESSION_LEVEL", " 0 ")
    config = load_config()
    assert config.compression_level == 0
    assert config.origins["BUILDCACHE_COMPRESSION_LEVEL"] == "environment"


@pytest.mark.parametrize("value", ["", "-1", "20", "fast", "1.5", "3k", "٣"])
def test_a_bad_compression_level_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BUILDCACHE_COMPRESSION_LEVEL", value)
    with pytest.raises(ConfigError, match="BUILDCACHE_COMPRESSION_LEVEL"):
        load_config()


def test_background_store_is_on_unless_switched_off(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_config().background_store
    monkeypatch.setenv("BUILDCACHE_BACKGROUND_STORE", "0")
    config = load_config()
    assert not config.background_store
    assert config.origins["BUILDCACHE_BACKGROUND_STORE"] == "environment"

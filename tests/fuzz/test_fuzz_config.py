"""Fuzz the configuration: any config file and any environment give a Config or a
ConfigError, never another exception (the CLI would print a traceback, the wrapper
would skip its warning); an error in the environment names the variable; and what
the Ansible role writes (`NAME = value` lines in a managed block) reads back as
written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_support import nul_separated, seed_params
from hypothesis import example, given
from hypothesis import strategies as st

from buildcache.config import VARIABLES, load_config, read_config_file
from buildcache.errors import ConfigError

TRICKY = " =#\"'\\~/\t\r\n\x0b\x0c\x1c\x85\u2028\ufeff\x00"
tricky_text = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=40
)
# What the environment can hold: no NUL.
env_values = st.one_of(
    tricky_text.filter(lambda text: "\0" not in text),
    st.sampled_from(["10G", "1e308G", "0", "yes", "maybe", "stderr", "/abs", "~", "~x/y"]),
)
# Values the role writes unchanged: one line, no surrounding blanks or quotes, and no
# '#' after a blank (that starts a comment).
written_values = tricky_text.filter(
    lambda value: (
        value == value.strip()
        and "\n" not in value
        and "\0" not in value
        and not value.startswith(("'", '"'))
        and not value.endswith(("'", '"'))
        and not any(
            value[i] == "#" and (i == 0 or value[i - 1].isspace()) for i in range(len(value))
        )
    )
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


def environ_with(scratch: Path, **values: str) -> dict[str, str]:
    """An environment whose config files are ours (missing unless written)."""
    return {
        "HOME": str(scratch / "home"),
        "BUILDCACHE_CONFIG": str(scratch / "user.conf"),
        "BUILDCACHE_SYSTEM_CONFIG": str(scratch / "no-system.conf"),
        **values,
    }


def load_or_error(environ: dict[str, str]) -> object:
    try:
        return load_config(environ)
    except ConfigError as error:
        return error


@given(
    st.binary(max_size=300) | tricky_text.map(lambda text: text.encode("utf-8", "surrogatepass"))
)
@example(b"BUILDCACHE_DIR = ~a\x00b/cache\n")  # NUL: expanduser raised ValueError
@example(b"BUILDCACHE_LOG = /tmp/a\x00b\n")
@example(b"BUILDCACHE_MAX_SIZE = 1e308G\n")
def test_any_config_file_loads_or_is_a_config_error(scratch: Path, data: bytes) -> None:
    (scratch / "user.conf").write_bytes(data)
    load_or_error(environ_with(scratch))  # anything else propagates and fails


@given(st.sampled_from(VARIABLES), env_values)
@example("BUILDCACHE_MAX_SIZE", "1e308G")
def test_a_bad_environment_value_is_an_error_naming_its_variable(
    scratch: Path, name: str, value: str
) -> None:
    (scratch / "user.conf").unlink(missing_ok=True)
    result = load_or_error(environ_with(scratch, **{name: value}))
    if isinstance(result, ConfigError):
        assert result.variable == name and name in str(result)


@given(
    st.lists(
        st.tuples(st.sampled_from(VARIABLES), written_values), max_size=4, unique_by=lambda e: e[0]
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
@example([("BUILDCACHE_DIR", "/srv/c#/cache")], "\n", False)  # was cut at the '#'
@example([("BUILDCACHE_DIR", "/a\u2028b")], "\n", False)  # str.splitlines split it
@example([("BUILDCACHE_DIR", "/cache")], "\n", True)  # a byte order mark before it
def test_what_the_role_writes_reads_back(
    scratch: Path, entries: list[tuple[str, str]], newline: str, bom: bool
) -> None:
    block = [
        "# BEGIN buildcache kit (managed by ansible)",
        *(f"{name} = {value}" for name, value in entries),
        "# END buildcache kit (managed by ansible)",
    ]
    text = ("\ufeff" if bom else "") + newline.join(["# mine", "", *block, ""])
    path = scratch / "written.conf"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert read_config_file(str(path)) == dict(entries)


@pytest.mark.parametrize("data", seed_params("config", ".conf"))
def test_corpus_config_file(scratch: Path, data: bytes) -> None:
    (scratch / "user.conf").write_bytes(data)
    load_or_error(environ_with(scratch))


@pytest.mark.parametrize("data", seed_params("config", ".env"))
def test_corpus_environment(scratch: Path, data: bytes) -> None:
    (scratch / "user.conf").unlink(missing_ok=True)
    values = dict(entry.split("=", 1) for entry in nul_separated(data))
    result = load_or_error(environ_with(scratch, **values))
    if isinstance(result, ConfigError):
        assert result.variable in values and result.variable in str(result)


def test_the_corpus_has_no_stray_files() -> None:
    """A seed with a suffix no test reads would never be replayed."""
    known = {".conf", ".env"}
    corpus = Path(__file__).resolve().parent.parent / "fuzz_corpus" / "config"
    assert {path.suffix for path in corpus.iterdir()} <= known
    assert os.path.isdir(corpus)

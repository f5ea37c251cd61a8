"""Fuzz the size parser shared by the CLI, the wrapper's config and the Ansible role:
any text is a size in bytes or a ConfigError naming the variable it came from, a
well-formed size means exactly what it says, and what format_size prints (in
`buildcache stats` and doctor's messages) reads back as about the same size.
"""

from __future__ import annotations

import pytest
from fuzz_support import as_read, seed_params
from hypothesis import example, given
from hypothesis import strategies as st

from buildcache.errors import ConfigError
from buildcache.sizes import MIN_CACHE_SIZE, format_size, parse_cache_size, parse_size

VARIABLE = "BUILDCACHE_MAX_SIZE"
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
size_text = st.one_of(
    st.text(alphabet=st.sampled_from("0123456789.eE+-_ KkMmGgTtBiI\t\u0661nafy"), max_size=12),
    st.text(max_size=20),
    st.binary(max_size=20).map(as_read),
)


def parse_or_error(text: str) -> int | ConfigError:
    try:
        return parse_size(text, variable=VARIABLE)
    except ConfigError as error:
        return error


@given(size_text)
@example("1e308G")  # finite, but not once multiplied by the unit
@example("9" * 400 + "T")
def test_any_text_is_a_size_or_an_error_naming_its_variable(text: str) -> None:
    result = parse_or_error(text)
    if isinstance(result, ConfigError):
        assert result.variable == VARIABLE and VARIABLE in str(result)
    else:
        assert isinstance(result, int) and result >= 0


@given(
    st.one_of(st.integers(0, 10**6).map(str), st.decimals(0, 10**5, places=3).map(str)),
    st.sampled_from(sorted(UNITS)),
    st.sampled_from(["", "B", "iB", "b", "ib"]),
    st.sampled_from(["", " "]),
    st.booleans(),
)
def test_a_well_formed_size_means_what_it_says(
    number: str, unit: str, suffix: str, space: str, lower: bool
) -> None:
    if not unit and suffix.lower() == "ib":
        suffix = ""  # "10iB" is no unit
    text = f"{number}{space}{unit.lower() if lower else unit}{suffix}"
    assert parse_size(text) == int(float(number) * UNITS[unit])


@given(st.integers(0, 1 << 62))
@example(100)  # "100 B"
def test_what_format_size_prints_reads_back(size: int) -> None:
    text = format_size(size)
    read = parse_size(text)
    # One decimal of the unit printed: off by at most half a tenth of it.
    unit = next(UNITS[name] for name in "TGMK" if text.endswith(f"{name}iB")) if "iB" in text else 1
    assert abs(read - size) <= unit * 0.05 + 1, (size, text, read)


@given(size_text)
def test_a_cache_cap_is_at_least_a_megabyte_or_an_error(text: str) -> None:
    try:
        assert parse_cache_size(text, variable=VARIABLE) >= MIN_CACHE_SIZE
    except ConfigError as error:
        assert error.variable == VARIABLE


@pytest.mark.parametrize("data", seed_params("sizes", ".txt"))
def test_corpus_seed(data: bytes) -> None:
    result = parse_or_error(as_read(data))
    assert isinstance(result, (int, ConfigError))
    if isinstance(result, ConfigError):
        assert VARIABLE in str(result)

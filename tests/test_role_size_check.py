"""The buildcache role checks buildcache_max_size with buildcache's own parser."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from buildcache.errors import ConfigError
from buildcache.sizes import parse_cache_size

FILTER = (
    Path(__file__).parents[1]
    / "ansible/collections/ansible_collections/buildcache_kit/tools/plugins/filter/cache_size.py"
)


@pytest.mark.parametrize("value", ["10G", "1M", "1.5G", "2MiB", "512K", "100", "10B", "", "-1G"])
def test_the_role_and_buildcache_agree(value: str) -> None:
    spec = importlib.util.spec_from_file_location("cache_size_filter", FILTER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        parse_cache_size(value, variable="buildcache_max_size")
        accepted = True
    except ConfigError:
        accepted = False
    assert (module.cache_size_problem(value) == "") is accepted

"""`value | buildcache_kit.tools.cache_size_problem`: '' when buildcache accepts value as
BUILDCACHE_MAX_SIZE, else the reason. It runs buildcache's own parser (buildcache/sizes.py,
beside ansible/ in the repository and in the image's build context), so the role can never
accept a size that every rustc call would then reject, or refuse one buildcache takes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# ansible/collections/ansible_collections/buildcache_kit/tools/plugins/filter/this file
_REPOSITORY = Path(__file__).resolve().parents[7]


def _load_sizes():  # type: ignore[no-untyped-def]
    try:  # installed (or already imported): use that one, never a second copy
        from buildcache import sizes

        return sizes
    except ImportError:
        pass
    root = _REPOSITORY / "buildcache"
    modules = {}
    for name in ("errors", "sizes"):
        spec = importlib.util.spec_from_file_location(f"buildcache.{name}", root / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        modules[name] = module
        import sys

        sys.modules.setdefault("buildcache", type(sys)("buildcache"))
        sys.modules[f"buildcache.{name}"] = module
        spec.loader.exec_module(module)
    return modules["sizes"]


def cache_size_problem(value: object) -> str:
    sizes = _load_sizes()
    try:
        sizes.parse_cache_size(str(value), variable="buildcache_max_size")
    except Exception as error:  # noqa: BLE001 - ConfigError: its message is the answer
        return str(error)
    return ""


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"cache_size_problem": cache_size_problem}

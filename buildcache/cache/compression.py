"""zstd for cache entries, from the `zstandard` package's C extension, loaded directly.

Why not `import zstandard`: the package's __init__ imports platform, re and typing,
about 8.6 ms here, which every hit and every miss would pay. Its C extension alone
(`zstandard.backend_c`, which that __init__ re-exports on CPython) loads in about
0.3 ms. So the extension is found on sys.path without running the package's
__init__ and loaded from its file. When that fails (PyPy, whose package uses cffi; a
layout this code does not know), the package is imported the ordinary way, and
without it at all entries are stored uncompressed. Loaded only when an entry is
read or written: calls that are not cacheable never pay for it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from types import ModuleType

# zstd's own command line asks for --ultra above 19: those levels take far more memory
# and time than a compile step should.
MAX_LEVEL = 19

_LOADED: list[ModuleType | None] = []


def zstd() -> ModuleType | None:
    """The zstd bindings (ZstdCompressor, ZstdDecompressor, ZstdError), or None."""
    if not _LOADED:
        _LOADED.append(_load_extension() or _import_package())
    return _LOADED[0]


def _load_extension() -> ModuleType | None:
    try:
        import importlib.machinery  # importlib.util would cost 2 ms more (contextlib)

        package = importlib.machinery.PathFinder.find_spec("zstandard")
        if package is None or not package.submodule_search_locations:
            return None
        for directory in package.submodule_search_locations:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(directory, "backend_c" + suffix)
                if not os.path.isfile(path):
                    continue
                loader = importlib.machinery.ExtensionFileLoader("zstandard.backend_c", path)
                spec = importlib.machinery.ModuleSpec(loader.name, loader, origin=path)
                module = loader.create_module(spec)
                loader.exec_module(module)
                module.ZstdCompressor, module.ZstdDecompressor, module.ZstdError  # noqa: B018
                return module
    except Exception:  # noqa: BLE001 - any surprise: try the ordinary import instead
        return None
    return None


def _import_package() -> ModuleType | None:
    try:
        import zstandard
    except Exception:  # noqa: BLE001 - not installed, or broken: store uncompressed
        return None
    return zstandard

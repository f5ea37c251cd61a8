"""buildcache/wrapper/native_inputs.py: what native code can reach an output is keyed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.wrapper.native_inputs import native_inputs
from buildcache.wrapper.rustc_args import NotCacheable, parse_rustc_args

BASE = ["--crate-name", "app", "src/main.rs", "--crate-type", "bin", "--emit=dep-info,link",
        "--out-dir", "/t"]  # fmt: skip


def keyed(tmp_path: Path, *args: str, crate_type: str = "bin") -> list[str]:
    argv = [*BASE, *args]
    argv[argv.index("bin")] = crate_type
    call = parse_rustc_args(argv)
    return native_inputs(call, str(tmp_path / "cache"), os.environ)


def test_a_search_dir_is_keyed_by_every_file_in_it(tmp_path: Path) -> None:
    """#[link(name = "foo", kind = "static")] in the source names no file on the command
    line; whatever rustc finds in the search dir must still be in the key."""
    native = tmp_path / "out"
    native.mkdir()
    (native / "libfoo.a").write_bytes(b"v1")
    first = keyed(tmp_path, "-L", f"native={native}", crate_type="lib")
    (native / "libfoo.a").write_bytes(b"v2")
    assert keyed(tmp_path, "-L", f"native={native}", crate_type="lib") != first


@pytest.mark.parametrize(
    "arg",
    ["-Clink-arg={f}", "-Clink-arg=-Wl,--version-script={f}", "-Clink-arg=-T{f}",
     "-Clink-args=-Wl,-T,{f} -lc", "-llink-arg={f}"],
)  # fmt: skip
def test_files_named_by_link_arguments_are_keyed(tmp_path: Path, arg: str) -> None:
    script = tmp_path / "extra.o"
    script.write_bytes(b"v1")
    first = keyed(tmp_path, arg.format(f=script))
    script.write_bytes(b"v2")
    assert keyed(tmp_path, arg.format(f=script)) != first


def test_a_verbatim_library_in_a_subdirectory_is_keyed(tmp_path: Path) -> None:
    (tmp_path / "out" / "sub").mkdir(parents=True)
    lib = tmp_path / "out" / "sub" / "libfoo.a"
    lib.write_bytes(b"v1")
    args = ("-L", f"native={tmp_path / 'out'}", "-l", "static:+verbatim=sub/libfoo.a")
    first = keyed(tmp_path, *args)
    lib.write_bytes(b"v2")
    assert keyed(tmp_path, *args) != first


def test_a_missing_static_library_or_a_response_file_is_not_cacheable(tmp_path: Path) -> None:
    with pytest.raises(NotCacheable):
        keyed(tmp_path, "-l", "static=surely_not_a_library_here")
    with pytest.raises(NotCacheable):
        keyed(tmp_path, "-Clink-arg=@args.txt")


def test_check_builds_read_no_native_code(tmp_path: Path) -> None:
    call = parse_rustc_args([*BASE[:5], "--emit=dep-info,metadata", *BASE[6:], "-lstatic=x"])
    assert native_inputs(call, str(tmp_path), os.environ) == []

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


def system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty dir standing in for the linker's default dirs, and the cache dir the
    wrapper creates before anything is recorded."""
    from buildcache.wrapper import native_inputs as module

    system = tmp_path / "system"
    system.mkdir()
    (tmp_path / "cache").mkdir()
    monkeypatch.setattr(module, "SYSTEM_LIBRARY_DIRS", (str(system),))
    return system


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


def test_a_thin_archive_is_keyed_by_its_members(tmp_path: Path) -> None:
    """`ar T` stores member paths (in its `//` name table), not their bytes."""
    member = tmp_path / "obj" / "a_rather_long_member_name.o"
    member.parent.mkdir()
    member.write_bytes(b"\x7fELF v1")
    (tmp_path / "out").mkdir()
    table = b"../obj/a_rather_long_member_name.o/\n"
    header = b"//".ljust(48) + str(len(table)).encode().ljust(10) + b"`\n"
    member_header = b"/0".ljust(48) + b"7".ljust(10) + b"`\n"
    (tmp_path / "out" / "libfoo.a").write_bytes(b"!<thin>\n" + header + table + member_header)
    first = keyed(tmp_path, "-L", f"native={tmp_path / 'out'}")
    member.write_bytes(b"\x7fELF v2")
    assert keyed(tmp_path, "-L", f"native={tmp_path / 'out'}") != first
    member.unlink()
    with pytest.raises(NotCacheable):
        keyed(tmp_path, "-L", f"native={tmp_path / 'out'}")


def test_a_library_that_is_a_linker_script_keys_the_absolute_files_it_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").mkdir()
    real = tmp_path / "elsewhere.a"
    real.write_bytes(b"!<arch>\nv1")
    script = tmp_path / "out" / "libfoo.so"
    script.write_text(f"/* GNU ld script */\nGROUP ( {real} AS_NEEDED ( {real} ) )\n")
    first = keyed(tmp_path, "-L", f"native={tmp_path / 'out'}")
    real.write_bytes(b"!<arch>\nv2")
    assert keyed(tmp_path, "-L", f"native={tmp_path / 'out'}") != first
    for searched in ("INPUT(-lbar)", "GROUP(libbar.a)", f"INCLUDE {real}", "SEARCH_DIR(/x)"):
        script.write_text(searched)
        with pytest.raises(NotCacheable):
            keyed(tmp_path, "-L", f"native={tmp_path / 'out'}")


@pytest.mark.parametrize(
    "args",
    [("-Clink-arg=-L", "-Clink-arg={d}"), ("-Clink-arg=-Wl,-L,{d}",),
     ("-Clink-arg=-Wl,--library-path={d}",), ("-Clink-args=-Wl,--library-path {d}",)],
)  # fmt: skip
def test_a_search_dir_in_any_link_argument_spelling_is_keyed(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    native = tmp_path / "sub"
    native.mkdir()
    (native / "libval.a").write_bytes(b"v1")
    first = keyed(tmp_path, *(arg.format(d=native) for arg in args))
    (native / "libval.a").write_bytes(b"v2")
    assert keyed(tmp_path, *(arg.format(d=native) for arg in args)) != first


def test_link_arguments_that_move_the_sysroot_are_not_cacheable(tmp_path: Path) -> None:
    for arg in ("-Clink-arg=--sysroot=/x", "-Clink-arg=-Wl,--sysroot=/x", "-Clink-arg=-B/x/"):
        with pytest.raises(NotCacheable):
            keyed(tmp_path, arg)


def test_a_linked_output_keys_the_static_archives_of_the_default_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dependency's `-l static:-bundle=NAME` reaches this link through its rlib."""
    system = system_dir(tmp_path, monkeypatch)
    (system / "libdep.a").write_bytes(b"!<arch>\nv1")
    first = keyed(tmp_path)
    (system / "libdep.a").write_bytes(b"!<arch>\nv2")
    assert keyed(tmp_path) != first
    assert keyed(tmp_path, crate_type="rlib") == keyed(tmp_path, crate_type="rlib")


def test_a_system_linker_script_keys_what_it_names_on_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which system archives are scripts is recorded once (a linked call would otherwise
    open every archive of /usr/lib twice); what a script names is still read each time:
    it changes without the script or the dir changing."""
    system = system_dir(tmp_path, monkeypatch)
    (system / "libplain.a").write_bytes(b"!<arch>\nplain")
    named = tmp_path / "libm-2.36.a"
    named.write_bytes(b"!<arch>\nv1")
    (system / "libm.a").write_text(f"/* GNU ld script */\nGROUP ( {named} )\n")
    first = keyed(tmp_path)
    assert any(str(named) in line for line in first)
    assert keyed(tmp_path) == first  # from the record
    named.write_bytes(b"!<arch>\nv2")
    assert keyed(tmp_path) != first


def test_the_system_archives_are_opened_once_for_what_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildcache.wrapper import native_inputs as module

    system = system_dir(tmp_path, monkeypatch)
    for index in range(5):
        (system / f"lib{index}.a").write_bytes(b"!<arch>\n" + bytes([index]))
    first = keyed(tmp_path)
    opened: list[str] = []
    with monkeypatch.context() as patched:
        patched.setattr(module, "_plain_archive", lambda path: opened.append(path) or True)
        assert keyed(tmp_path) == first
    assert opened == []
    # A plain archive replaced by a script: the dir's digest moves, so it is looked at again.
    named = tmp_path / "elsewhere.a"
    named.write_bytes(b"!<arch>\nv1")
    (system / "lib3.a").write_text(f"INPUT ( {named} )\n")
    assert any(str(named) in line for line in keyed(tmp_path))


def test_a_system_archive_that_cannot_be_read_is_never_recorded_as_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A linker script removed and put back (`make install` again) while the dir is
    looked through reads as missing: recorded as a plain archive, what it names would
    never be keyed again under that content."""
    from buildcache.wrapper import native_inputs as module

    system = system_dir(tmp_path, monkeypatch)
    named = tmp_path / "libm-2.36.a"
    named.write_bytes(b"!<arch>\nv1")
    script = system / "libm.a"
    script.write_text(f"GROUP ( {named} )\n")
    real_open = os.open

    def vanishing(path: str, flags: int, *args: int) -> int:
        if str(path) == str(script):
            raise FileNotFoundError(path)
        return real_open(path, flags, *args)

    def vanishing_file(path: str, *args: object, **kwargs: object) -> object:
        if str(path) == str(script):
            raise FileNotFoundError(path)
        return open(path, *args, **kwargs)  # type: ignore[call-overload]

    real_isfile = os.path.isfile
    with monkeypatch.context() as patched:  # gone while the archives are looked through
        patched.setattr(module.os, "open", vanishing)
        patched.setattr(module, "open", vanishing_file, raising=False)
        patched.setattr(
            module.os.path, "isfile", lambda path: path != str(script) and real_isfile(path)
        )
        keyed(tmp_path)
    first = keyed(tmp_path)
    assert any(str(named) in line for line in first)
    named.write_bytes(b"!<arch>\nv2")
    assert keyed(tmp_path) != first


def test_a_fifo_named_like_an_archive_does_not_hang_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = system_dir(tmp_path, monkeypatch)
    (system / "libplain.a").write_bytes(b"!<arch>\nplain")
    os.mkfifo(system / "libpipe.a")
    assert keyed(tmp_path) == keyed(tmp_path)

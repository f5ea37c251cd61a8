from __future__ import annotations

import pytest

from buildcache.wrapper.rustc_args import NotCacheable, parse_rustc_args

LIB_ARGS = [
    "--crate-name", "core_lib", "--edition=2021", "crates/core_lib/src/lib.rs",
    "--error-format=json", "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
    "--crate-type", "lib", "--emit=dep-info,metadata,link", "-C", "embed-bitcode=no",
    "-C", "debuginfo=2", "-C", "metadata=abc", "-C", "extra-filename=-abc",
    "--out-dir", "/ws1/target/debug/deps", "-C", "incremental=/ws1/target/debug/incremental",
    "-L", "dependency=/ws1/target/debug/deps",
    "--extern", "itoa=/ws1/target/debug/deps/libitoa-123.rmeta",
]  # fmt: skip


def test_a_library_compile_is_cacheable_and_predicts_its_outputs() -> None:
    call = parse_rustc_args(LIB_ARGS)
    assert call.crate_name == "core_lib"
    assert call.out_dir == "/ws1/target/debug/deps"
    assert call.output_names() == [
        "core_lib-abc.d",
        "libcore_lib-abc.rlib",
        "libcore_lib-abc.rmeta",
    ]
    assert call.incremental and not call.links
    assert call.externs == [("itoa", "/ws1/target/debug/deps/libitoa-123.rmeta")]


def test_key_arguments_do_not_depend_on_the_checkout_location() -> None:
    moved = [arg.replace("/ws1/", "/elsewhere/ws2/") for arg in LIB_ARGS]
    assert parse_rustc_args(moved).key_args == parse_rustc_args(LIB_ARGS).key_args


def test_key_arguments_keep_everything_that_changes_the_output() -> None:
    base = parse_rustc_args(LIB_ARGS).key_args
    for changed in (["-C", "opt-level=3"], ["--cfg", 'feature="x"'], ["--cap-lints", "allow"]):
        assert parse_rustc_args(LIB_ARGS + changed).key_args != base
    idx = LIB_ARGS.index("incremental=/ws1/target/debug/incremental")
    no_incr = LIB_ARGS[: idx - 1] + LIB_ARGS[idx + 1 :]
    assert parse_rustc_args(no_incr).key_args != base


@pytest.mark.parametrize(
    ("crate_type", "expected"),
    [
        ("bin", ["app-1", "app-1.d"]),
        ("proc-macro", ["app-1.d", "libapp-1.so"]),
        ("staticlib", ["app-1.d", "libapp-1.a"]),
        ("cdylib", ["app-1.d", "libapp-1.so"]),
    ],
)
def test_output_names_per_crate_type(crate_type: str, expected: list[str]) -> None:
    args = ["--crate-name", "app", "src/main.rs", "--crate-type", crate_type,
            "--emit=dep-info,link", "-C", "extra-filename=-1", "--out-dir", "/t"]  # fmt: skip
    call = parse_rustc_args(args)
    assert call.output_names() == expected
    assert call.links == (crate_type != "staticlib")


def test_a_test_harness_is_a_linked_binary() -> None:
    args = ["--crate-name", "app", "src/lib.rs", "--test", "--emit=dep-info,link",
            "-C", "extra-filename=-1", "--out-dir", "/t"]  # fmt: skip
    call = parse_rustc_args(args)
    assert call.is_test and call.links
    assert call.output_names() == ["app-1", "app-1.d"]


def test_a_check_build_writes_metadata_only() -> None:
    args = ["--crate-name", "app", "src/main.rs", "--crate-type", "bin",
            "--emit=dep-info,metadata", "-C", "extra-filename=-1", "--out-dir", "/t"]  # fmt: skip
    call = parse_rustc_args(args)
    assert call.output_names() == ["app-1.d", "libapp-1.rmeta"]
    assert not call.links


# A library compile that is cacheable until one thing is added to it.
LIB_PREFIX = ["--crate-name", "a", "a.rs", "--crate-type", "lib"]
WITH_OUT_DIR = [*LIB_PREFIX, "--out-dir", "/t"]


@pytest.mark.parametrize(
    "args",
    [
        ["-vV"],
        ["-", "--crate-name", "___", "--print=file-names", "--crate-type", "bin"],
        [*WITH_OUT_DIR, "--emit=asm,dep-info"],
        [*WITH_OUT_DIR, "-Zunstable-options"],
        [*WITH_OUT_DIR, "--emit=link"],
        [*LIB_PREFIX, "-o", "x", "--emit=dep-info,link"],
        [*WITH_OUT_DIR, "@args.txt"],
        [*WITH_OUT_DIR, "--emit=dep-info,link", "-C", "split-debuginfo=unpacked"],
        ["a.rs", "b.rs", "--crate-name", "a", "--crate-type", "lib", "--out-dir", "/t"],
    ],
)
def test_calls_we_cannot_cache_are_refused(args: list[str]) -> None:
    with pytest.raises(NotCacheable):
        parse_rustc_args(args)


def test_glued_short_options_are_understood() -> None:
    args = ["--crate-name", "a", "a.rs", "--crate-type=lib", "--emit=dep-info,link",
            "-Cextra-filename=-9", "--out-dir=/t", "-Lnative=/x", "-lstatic=z"]  # fmt: skip
    call = parse_rustc_args(args)
    assert call.extra_filename == "-9"
    assert call.native_dirs == ["/x"] and call.native_libs == [("static", "z", False)]


def test_a_bare_program_name_is_resolved_on_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from buildcache.wrapper.rustc_identity import locate_executable

    program = tmp_path / "fakerustc"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert locate_executable("fakerustc", f"/nonexistent:{tmp_path}") == str(program)
    assert locate_executable(str(program), "") == str(program)
    with pytest.raises(FileNotFoundError):
        locate_executable("fakerustc", "/nonexistent")


# Found by tests/fuzz/test_fuzz_rustc_args.py.


@pytest.mark.parametrize("option", ["--cfg", "--crate-name", "--remap-path-prefix", "-C"])
def test_an_argument_file_in_place_of_a_value_is_refused(option: str) -> None:
    """rustc expands `@file` wherever it stands (`rustc --cfg @cfgs` reads cfgs), so the
    key held the file's name but not what it says: editing it gave a stale hit."""
    args = [*LIB_PREFIX, "--emit=dep-info,link", "--out-dir", "/t", option, "@cfgs"]
    with pytest.raises(NotCacheable, match="@file"):
        parse_rustc_args(args)


def test_long_and_short_spellings_share_a_key() -> None:
    base = [*LIB_PREFIX, "--emit=dep-info,link", "--out-dir", "/t"]
    for long, short in (("--warn", "-W"), ("--allow", "-A"), ("--deny", "-D"),
                        ("--forbid", "-F"), ("--codegen", "-C")):  # fmt: skip
        value = "opt-level=3" if short == "-C" else "unused"
        long_key = parse_rustc_args([*base, long, value]).key_args
        assert long_key == parse_rustc_args([*base, f"{short}{value}"]).key_args
        assert long_key == parse_rustc_args([*base, f"{long}={value}"]).key_args

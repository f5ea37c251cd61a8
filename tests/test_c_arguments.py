"""parse_c_args: which C/C++ command lines are one cacheable object compile."""

from __future__ import annotations

import pytest

from buildcache.wrapper.c_family.arguments import parse_c_args
from buildcache.wrapper.rustc_args import NotCacheable

CC_RS = [
    "-O0", "-ffunction-sections", "-fdata-sections", "-fPIC", "-g", "-gdwarf-4",
    "-fno-omit-frame-pointer", "-m64", "-march=x86-64", "-I", "src/zlib", "-w",
    "-fvisibility=hidden", "-DSTDC", "-D_LARGEFILE64_SOURCE", "-o", "/out/adler32.o", "-c",
    "src/zlib/adler32.c",
]  # fmt: skip


def test_a_cc_rs_compile_is_cacheable() -> None:
    call = parse_c_args(CC_RS)
    assert (call.source, call.output, call.language) == (
        "src/zlib/adler32.c",
        "/out/adler32.o",
        "c",
    )
    assert call.dep_file is None
    # preprocessing keeps what shapes the text and drops the compile and the output
    assert "-c" not in call.preprocess_args and "/out/adler32.o" not in call.preprocess_args
    assert call.preprocess_args[-1] == "src/zlib/adler32.c"
    assert call.preprocess_args[9:11] == ["-I", "src/zlib"]


@pytest.mark.parametrize(
    ("args", "language"),
    [
        (["-c", "x.cpp", "-o", "x.o"], "c++"),
        (["-c", "x.cc"], "c++"),
        (["-c", "x.S"], "assembler-with-cpp"),
        (["-x", "c++", "-c", "x.inc"], "c++"),
        (["-xc", "-c", "weird.txt"], "c"),
    ],
)
def test_the_language_comes_from_the_suffix_or_x(args: list[str], language: str) -> None:
    assert parse_c_args(args).language == language


def test_the_default_output_is_the_source_stem_in_the_working_dir() -> None:
    assert parse_c_args(["-c", "src/dir/file.c"]).output == "file.o"
    assert parse_c_args(["-c", "f.c", "-ofoo.o"]).output == "foo.o"


def test_a_dependency_file_is_restored_when_named() -> None:
    call = parse_c_args(["-MD", "-MF", "x.d", "-MT", "x.o", "-c", "x.c", "-o", "x.o"])
    assert call.dep_file == "x.d"
    assert not any(arg.startswith("-M") for arg in call.preprocess_args)
    assert parse_c_args(["-MMD", "-MFy.d", "-c", "x.c"]).dep_file == "y.d"


@pytest.mark.parametrize(
    "args",
    [
        ["x.c", "-o", "x"],  # links
        ["-c", "a.c", "b.c"],  # several sources
        ["-c", "-", "-o", "x.o"],  # stdin
        ["-c", "x.s"],  # plain assembly: .include is not preprocessed
        ["-E", "x.c"],
        ["-S", "x.c"],
        ["-M", "x.c"],
        ["-c", "x.c", "-o", "/dev/stdout"],
        ["-c", "x.c", "-o", "//dev/null"],  # a hit as root would replace the device
        ["-c", "x.c", "-MD", "-MF", "/dev/null"],
        ["-c", "x.c", "-MD", "-MF//dev/null"],
        ["-c", "x.c", "-MMD", "-MF", "/proc/self/fd/1"],
        ["-c", "x.c", "@opts"],
        ["-c", "x.c", "-MD"],  # dependency file name left to the compiler
        ["-c", "x.c", "-fprofile-use=x.gcda"],
        ["-c", "x.c", "-fprofile-use"],
        ["-c", "x.c", "-fauto-profile"],
        ["-c", "x.c", "-fplugin=./p.so"],
        ["-c", "x.c", "-specs=my.specs"],
        ["-c", "x.c", "-B/opt/tools"],
        ["-c", "x.c", "-save-temps"],
        ["-c", "x.c", "-gsplit-dwarf"],
        ["-c", "x.c", "--coverage"],
        ["-c", "x.c", "-ftest-coverage"],
        ["-c", "x.c", "-fstack-usage"],
        ["-c", "x.c", "-fdump-tree-all"],
        ["-c", "x.c", "-fsanitize-ignorelist=ign.txt"],
        ["-c", "x.c", "-Wp,-MD,x.d"],
        ["-c", "x.c", "-Wa,-adhln=x.lst"],
        ["-c", "x.c", "-Wa,-I,incdir"],
        ["-c", "x.c", "-Xclang", "-load"],
        ["-c", "x.c", "-Xassembler", "--defsym"],
        ["-c", "x.c", "-mllvm", "-x"],
        ["-c", "x.c", "--config=my.cfg"],
        ["-c", "x.c", "-include-pch", "x.pch"],
        ["-c", "x.c", "-x", "c"],  # -x after the source applies to nothing we read
        ["-c", "x.c", "-x", "c-header"],
        ["-c", "x.c", "-v"],
        ["-c", "x.c", "-H"],
        ["-c", "x.c", "--some-new-flag"],
        ["-c", "x.c", "-o"],
    ],
)
def test_what_the_key_cannot_cover_is_not_cacheable(args: list[str]) -> None:
    with pytest.raises(NotCacheable):
        parse_c_args(args)


def test_safe_assembler_options_stay_cacheable() -> None:
    parse_c_args(["-c", "x.S", "-Wa,--noexecstack", "-Wa,-mrelax-relocations=no"])


@pytest.mark.parametrize(
    "flag",
    [
        "-fbranch-probabilities",
        "-foptimization-record-file=x.yaml",
        "-fpass-plugin=./p.so",
        "-fdiagnostics-format=json-file",
        "-fsome-future-option=dir/file.txt",  # unknown, but names a path
    ],
)
def test_f_options_that_read_or_write_files_are_not_cacheable(flag: str) -> None:
    with pytest.raises(NotCacheable):
        parse_c_args(["-c", "x.c", flag])


def test_path_maps_and_plain_values_stay_cacheable() -> None:
    parse_c_args(["-c", "x.c", "-ffile-prefix-map=/src=.", "-fvisibility=hidden"])


def test_a_device_as_source_is_not_cacheable() -> None:
    for source in ("/dev/stdin", "/proc/self/fd/0"):
        with pytest.raises(NotCacheable):
            parse_c_args(["-x", "c", "-c", source, "-o", "x.o"])


def test_include_dirs_are_collected_for_the_precompiled_header_check() -> None:
    call = parse_c_args(["-Ia", "-I", "b", "-isystem", "c", "-iquotee", "-c", "src/x.c"])
    assert call.include_dirs == ["src", "", "a", "b", "c", "e"]

"""Preprocessor mode: the files a preprocessed text names, and inputs it cannot show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.wrapper.c_family.preprocess import (
    check_all_inputs_visible,
    check_no_precompiled_headers,
    files_entered,
    run_preprocessor,
)
from buildcache.wrapper.rustc_args import NotCacheable


def test_line_markers_name_every_file_entered() -> None:
    text = (
        b'# 0 "x.c"\n# 0 "<built-in>"\n# 0 "<command-line>"\n'
        b'# 1 "/usr/include/stdc-predef.h" 1 3 4\n# 1 "x.c"\n# 1 "inc/a.h" 1\n'
        b'int a;\n#line 7 "gen/b.h"\n#pragma once\n# 2 "x.c" 2\n'
    )
    assert files_entered(text) == ["/usr/include/stdc-predef.h", "gen/b.h", "inc/a.h", "x.c"]


def test_escaped_file_names_are_decoded() -> None:
    text = b'# 1 "dir with \\"quote\\"/a\\\\b.h" 1\n# 1 "caf\\303\\251.h"\n'
    assert files_entered(text) == sorted(['dir with "quote"/a\\b.h', "caf\u00e9.h"])


@pytest.mark.parametrize(
    "text",
    [
        b'__asm__(".incbin \\"blob.bin\\"");\n',
        b'.include "macros.inc"\n',
        b'#pragma GCC pch_preprocess "x.h.gch"\n',
        b'#embed "data.bin"\n',
    ],
)
def test_inputs_the_text_does_not_show_are_not_cacheable(text: bytes) -> None:
    with pytest.raises(NotCacheable):
        check_all_inputs_visible(text)


def test_the_real_preprocessor_output_lists_its_headers(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "v.h").write_text("#define V 3\n")
    (tmp_path / "x.c").write_text('#include "v.h"\nint v = V;\n')
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, text = run_preprocessor("cc", ["-Iinc", "x.c"])
    finally:
        os.chdir(old)
    assert status == 0 and b"int v = 3;" in text
    assert {"inc/v.h", "x.c"} <= set(files_entered(text))
    check_all_inputs_visible(text)


def test_a_failing_preprocessor_reports_its_status(tmp_path: Path) -> None:
    status, _ = run_preprocessor("cc", [str(tmp_path / "missing.c")])
    assert status != 0


@pytest.mark.parametrize(
    "text",
    [
        b'__asm__(".INCBIN \\"blob.bin\\"");\n',  # gas directives ignore case
        b'__asm__(".inc" "bin \\"blob.bin\\"");\n',  # adjacent literals are joined
        b'asm(".inc"\n    "lude \\"m.inc\\"");\n',
    ],
)
def test_disguised_assembler_includes_are_found(text: bytes) -> None:
    with pytest.raises(NotCacheable):
        check_all_inputs_visible(text)


def test_a_precompiled_header_in_any_include_dir_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "h.h").write_text("int v;\n")
    entered = [str(second / "h.h")]
    dirs = [str(first), str(second)]
    check_no_precompiled_headers(entered, dirs)
    (first / "h.h.gch").write_bytes(b"gpch")  # gcc would take it before second/h.h
    with pytest.raises(NotCacheable):
        check_no_precompiled_headers(entered, dirs)

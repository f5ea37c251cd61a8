"""C objects: inputs the preprocessed text does not show, called as cc-rs calls us.

Each test runs `buildcache <compiler> ... -c x.c -o x.o` itself (no cargo) against a
real gcc and compares the object with one the compiler makes without the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cargo  # real compilers, like the cargo tests

# A compiler that changes the tree during the real compile only (not during the
# wrapper's `-E` and `-###` runs): a concurrent job, made deterministic.
MUTATING_CC = """#!/bin/sh
case " $* " in
  *" -E "*|*" -### "*) ;;
  *) [ -x ./mutate ] && ./mutate ;;
esac
exec cc "$@"
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUILDCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUILDCACHE_CONFIG", str(tmp_path / "none.conf"))
    monkeypatch.setenv("BUILDCACHE_SYSTEM_CONFIG", str(tmp_path / "none-system.conf"))
    (tmp_path / "x.c").write_text('#include "h.h"\nint get(void) { return VALUE; }\n')
    compiler = tmp_path / "bin" / "mutating-cc"
    compiler.parent.mkdir()
    compiler.write_text(MUTATING_CC)
    compiler.chmod(0o755)
    return tmp_path


def wrapped(*args: str, compiler: str = "cc", stdin: bytes = b"") -> None:
    subprocess.run(["buildcache", compiler, *args], input=stdin, check=True)


def c_stats() -> dict[str, int]:
    out = subprocess.run(["buildcache", "stats", "--json"], capture_output=True, check=True)
    section = json.loads(out.stdout)["c_cxx"]
    assert isinstance(section, dict)
    return section


def reference(*args: str, stdin: bytes = b"") -> bytes:
    subprocess.run(["cc", *args, "-o", "ref.o"], input=stdin, check=True)
    return Path("ref.o").read_bytes()


def write_mutation(work: Path, script: str) -> None:
    (work / "mutate").write_text("#!/bin/sh\n" + script)
    (work / "mutate").chmod(0o755)


def test_a_header_shadowed_during_the_compile_is_not_stored(work: Path) -> None:
    (work / "first").mkdir()
    (work / "second").mkdir()
    (work / "second" / "h.h").write_text("#define VALUE 1\n")
    write_mutation(work, 'echo "#define VALUE 2" > first/h.h\n')
    args = ("-Ifirst", "-Isecond", "-c", "x.c")
    wrapped(*args, "-o", "x.o", compiler=str(work / "bin" / "mutating-cc"))
    assert c_stats()["not_stored"] == 1
    os.unlink("mutate")
    os.unlink("first/h.h")
    wrapped(*args, "-o", "x.o", compiler=str(work / "bin" / "mutating-cc"))
    assert Path("x.o").read_bytes() == reference(*args)


def test_a_header_symlink_retargeted_during_the_compile_is_not_stored(work: Path) -> None:
    (work / "one.h").write_text("#define VALUE 1\n")
    (work / "two.h").write_text("#define VALUE 2\n")
    old = 1_600_000_000
    for name in ("one.h", "two.h"):
        os.utime(work / name, (old, old))
    os.symlink("one.h", work / "h.h")
    write_mutation(work, "ln -sfn two.h h.h\n")
    wrapped("-c", "x.c", "-o", "x.o", compiler=str(work / "bin" / "mutating-cc"))
    os.unlink("mutate")
    os.unlink("h.h")
    os.symlink("one.h", "h.h")
    wrapped("-c", "x.c", "-o", "x.o", compiler=str(work / "bin" / "mutating-cc"))
    assert Path("x.o").read_bytes() == reference("-c", "x.c")


def test_a_precompiled_header_is_not_served_around(work: Path) -> None:
    (work / "h.h").write_text("#define VALUE 1\nint from_header(void);\n")
    wrapped("-c", "x.c", "-o", "x.o")
    subprocess.run(["cc", "-x", "c-header", "-DPCH", "h.h", "-o", "h.h.gch"], check=True)
    (work / "h.h").write_text("#define VALUE 2\nint from_header(void);\n")
    os.utime(work / "h.h", (1_600_000_000, 1_600_000_000))
    before = c_stats()["non_cacheable"]
    wrapped("-c", "x.c", "-o", "x.o")
    assert c_stats()["non_cacheable"] == before + 1
    assert Path("x.o").read_bytes() == reference("-c", "x.c")


def test_a_source_on_stdin_is_compiled_not_cached(work: Path) -> None:
    source = b"int f(void) { return 7; }\n"
    wrapped("-x", "c", "-c", "/dev/stdin", "-o", "x.o", stdin=source)
    assert c_stats()["non_cacheable"] == 1
    assert Path("x.o").read_bytes() == reference("-x", "c", "-c", "/dev/stdin", stdin=source)


def test_an_output_symlink_is_written_through(work: Path) -> None:
    (work / "h.h").write_text("#define VALUE 3\n")
    wrapped("-c", "x.c", "-o", "x.o")  # stored: the next call would be a hit
    os.unlink("x.o")
    os.symlink("real.o", "x.o")
    wrapped("-c", "x.c", "-o", "x.o")
    assert os.path.islink("x.o") and Path("real.o").read_bytes() == reference("-c", "x.c")

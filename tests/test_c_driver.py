"""driver_plan: what `cc -###` says it will run is part of a C object's key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.wrapper.c_family.driver import driver_plan


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.c").write_text("int f(void) { return 1; }\n")
    return tmp_path


def plan(source: Path, *flags: str) -> str:
    return driver_plan("cc", [*flags, "-c", "x.c", "-o", "x.o"], str(source / "cache"))


def test_the_plan_is_stable_across_runs(source: Path) -> None:
    """gcc's temp file names change every run and must not reach the key."""
    assert plan(source, "-O2") == plan(source, "-O2")
    assert "<tmp>" in plan(source, "-O2")


def test_native_cpu_options_are_expanded_into_the_plan(source: Path) -> None:
    """`-march=native` preprocesses like `-march=x86-64` but compiles for this CPU."""
    native = plan(source, "-march=native")
    assert native != plan(source, "-march=x86-64")
    compiler_proper = [line for line in native.splitlines() if "/cc1 " in line]
    assert compiler_proper and "-march=native" not in compiler_proper[0]


def test_another_assembler_first_on_path_changes_the_plan(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = plan(source)
    tools = source / "tools"
    tools.mkdir()
    fake_as = tools / "as"
    fake_as.write_text('#!/bin/sh\nexec /usr/bin/as "$@"\n')
    fake_as.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    assert plan(source) != before
    fake_as.write_text('#!/bin/sh\n# another version\nexec /usr/bin/as "$@"\n')
    os.utime(fake_as, (1, 1))  # another stamp, as any rewrite gives
    assert plan(source) != before

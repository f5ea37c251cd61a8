"""Which outputs a miss's store may read after the wrapper returned (held open, not
copied while cargo waits): only those cargo never links elsewhere nor touches."""

from __future__ import annotations

import pytest

from buildcache.wrapper.miss import cargo_leaves_alone
from buildcache.wrapper.rustc_args import parse_rustc_args

UNDER_CARGO = {"CARGO": "/usr/bin/cargo"}


def call_of(*extra: str):  # type: ignore[no-untyped-def]
    return parse_rustc_args(
        [
            "--crate-name", "dep", "--edition=2021", "src/lib.rs",
            "--error-format=json", "--out-dir", "/ws/target/debug/deps",
            "-C", "extra-filename=-abc", *extra,
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    "crate_types", [["lib"], ["rlib"], ["proc-macro"], ["cdylib"], ["staticlib"], ["lib", "cdylib"]]
)
def test_a_dependencys_library_is_held(crate_types: list[str]) -> None:
    flags = [flag for kind in crate_types for flag in ("--crate-type", kind)]
    call = call_of(*flags, "--emit=dep-info,metadata,link")
    assert cargo_leaves_alone(call, UNDER_CARGO)


@pytest.mark.parametrize(
    ("flags", "environ", "why"),
    [
        (["--crate-type", "bin"], UNDER_CARGO, "cargo links binaries into the profile dir"),
        (["--crate-type", "dylib"], UNDER_CARGO, "cargo links dylibs, whoever's"),
        (["--crate-type", "lib", "--crate-type", "bin"], UNDER_CARGO, "one of them a binary"),
        (["--crate-type", "lib"], {**UNDER_CARGO, "CARGO_PRIMARY_PACKAGE": "1"}, "a root's?"),
        (["--test"], UNDER_CARGO, "a test harness"),
        (["--crate-type", "lib"], {}, "not cargo: what it does with the outputs is unknown"),
    ],
)
def test_what_cargo_may_link_or_touch_is_copied(
    flags: list[str], environ: dict[str, str], why: str
) -> None:
    call = call_of(*flags, "--emit=dep-info,metadata,link")
    assert not cargo_leaves_alone(call, environ), why


def test_a_checks_rmeta_is_copied() -> None:
    """cargo (1.93 on) sets the mtime of a check's .rmeta after rustc exits."""
    call = call_of("--crate-type", "lib", "--emit=dep-info,metadata")
    assert not cargo_leaves_alone(call, UNDER_CARGO)

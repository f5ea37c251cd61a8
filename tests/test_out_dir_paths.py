from __future__ import annotations

from buildcache.out_dir_paths import (
    from_placeholder,
    out_dir_only_included,
    profile_dir,
    to_placeholder,
)


def test_profile_dir_comes_from_out_dir() -> None:
    assert profile_dir({"OUT_DIR": "/t/debug/build/gen-1/out"}) == "/t/debug"
    assert profile_dir({"OUT_DIR": "/t/x86_64-unknown-linux-gnu/release/build/g-2/out"}) == (
        "/t/x86_64-unknown-linux-gnu/release"
    )
    assert profile_dir({"OUT_DIR": "/somewhere/else"}) is None
    assert profile_dir({}) is None


def test_placeholder_round_trip_moves_paths_to_the_new_target_dir() -> None:
    neutral = to_placeholder("/t1/debug/build/gen-1/out/gen.rs", "/t1/debug")
    assert "/t1" not in neutral
    assert from_placeholder(neutral, "/t2/debug") == "/t2/debug/build/gen-1/out/gen.rs"
    assert from_placeholder(neutral, None) is None
    assert to_placeholder("src/lib.rs", "/t1/debug") == "src/lib.rs"


def test_only_include_uses_of_out_dir_are_path_neutral() -> None:
    include = 'include!(concat!(env!("OUT_DIR"), "/gen.rs"));'
    spaced = 'include_bytes! ( concat! ( env! ( "OUT_DIR" ) , "/blob" ) )'
    assert out_dir_only_included([include, spaced, "fn main() {}"])
    assert not out_dir_only_included([include, 'const D: &str = env!("OUT_DIR");'])
    assert not out_dir_only_included(['option_env!("OUT_DIR")'])

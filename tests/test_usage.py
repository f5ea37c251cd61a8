from __future__ import annotations

from pathlib import Path

from buildcache.sweep.build_units import Unit
from buildcache.sweep.last_use import last_used

PROFILE = Path("/t/debug")


def unit(
    name: str,
    built_at: float,
    *,
    fp: str,
    deps: tuple[str, ...] = (),
    read_at: float = 0.0,
    uplifted: bool = False,
    profile: Path = PROFILE,
) -> Unit:
    return Unit(
        profile=profile,
        name=name,
        fingerprints={fp},
        dep_fingerprints=set(deps),
        built_at=built_at,
        read_at=read_at,
        uplifted=uplifted,
    )


def test_own_time_is_newest_of_build_and_read() -> None:
    lib = unit("lib-1", 100, fp="a", read_at=500)
    assert last_used([lib])[id(lib)] == 500


def test_time_flows_down_the_dependency_graph_transitively() -> None:
    leaf = unit("leaf-1", 10, fp="leaf")
    middle = unit("mid-1", 20, fp="mid", deps=("leaf",))
    top = unit("top-1", 900, fp="top", deps=("mid",))
    unrelated = unit("other-1", 30, fp="other")

    times = last_used([leaf, middle, top, unrelated])

    assert times[id(leaf)] == times[id(middle)] == 900
    assert times[id(unrelated)] == 30


def test_time_never_flows_up() -> None:
    leaf = unit("leaf-1", 900, fp="leaf")
    top = unit("top-1", 10, fp="top", deps=("leaf",))
    assert last_used([leaf, top])[id(top)] == 10


def test_uplifted_units_are_as_recent_as_their_profile_and_pass_it_on() -> None:
    dep = unit("dep-1", 5, fp="dep")
    app = unit("app-1", 10, fp="app", deps=("dep",), uplifted=True)
    stale = unit("app-0", 8, fp="old")
    recent = unit("test-1", 700, fp="t")
    release_app = unit("app-2", 3, fp="r", uplifted=True, profile=Path("/t/release"))

    times = last_used([dep, app, stale, recent, release_app])

    assert times[id(app)] == times[id(dep)] == 700
    assert times[id(stale)] == 8
    assert times[id(release_app)] == 3  # another profile's activity does not count

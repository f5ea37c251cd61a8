"""A build in one container, then a new container over the same cache volume.

This is the CI runner's and the rebuilt devcontainer's situation: the target
dir is gone (a fresh volume here, so cargo really calls rustc), the cache
volume is not, and every compiled unit must come from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infra.containers import Container, tar_of
from rust_workspace import FILES, make_workspace

pytestmark = pytest.mark.docker

# cargo build of the fixture compiles 6 units: gen_lib's build script, gen_lib,
# core_lib, hello_derive, where_am_i and app.
UNITS = 6
# The same path in both containers: where_am_i embeds its CARGO_MANIFEST_DIR,
# so only a build from the same path may be served from the cache.
WORKSPACE = "/home/dev/ws"
UID = 1000


def build(box: Container, workspace: Path, target_dir: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    box.put(WORKSPACE, tar_of({name: workspace / name for name in FILES}, uid=UID, gid=UID))
    box.check(f"chown {UID}:{UID} {WORKSPACE}")
    # As the image's default user, through its own cargo config.
    box.check("buildcache stats --zero", user="dev")
    box.check("cargo build 2>&1", user="dev", workdir=WORKSPACE)
    stats = json.loads(box.check("buildcache stats --json", user="dev"))
    output = box.check(f"{target_dir}/debug/app", user="dev")
    return stats, output


def test_a_new_container_over_the_same_cache_volume_builds_entirely_from_the_cache(
    run_container, make_volume, image_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    target_dir, cache_dir = image_env["CARGO_TARGET_DIR"], image_env["BUILDCACHE_DIR"]
    workspace = make_workspace(tmp_path / "ws").root
    cache = make_volume()

    first_box = run_container(volumes={cache: cache_dir, make_volume(): target_dir})
    # Fresh named volumes took the mount points' owner from the image.
    assert first_box.check(f"stat -c %u:%g {target_dir} {cache_dir}").split() == ["1000:1000"] * 2
    first, first_output = build(first_box, workspace, target_dir)
    assert (first["misses"], first["hits"], first["errors"]) == (UNITS, 0, 0), first
    assert "core:42" in first_output
    assert f"manifest dir: {WORKSPACE}/crates/where_am_i" in first_output

    second_box = run_container(volumes={cache: cache_dir, make_volume(): target_dir})
    assert second_box.exec(f"test -e {target_dir}/debug").exit_code != 0  # nothing built yet
    second, second_output = build(second_box, workspace, target_dir)
    assert (second["hits"], second["misses"], second["errors"]) == (UNITS, 0, 0), second
    assert second_output == first_output

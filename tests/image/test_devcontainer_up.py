"""devcontainer/devcontainer.json run as a devcontainer tool runs it, then rebuilt as
a Codespace is: the container and its volumes go, /workspaces stays.

The image is built from the file's own build section (the layers it shares with
`make image`, which the session fixture has just run, come from the layer cache);
the containers get the file's mounts, user and lifecycle commands through
devcontainer_cli. A Codespace mounts its whole /workspaces disk, so the test does
too: a host directory, root's like a Codespace's, holding the user's checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import devcontainer_cli as cli
import devcontainer_spec as spec
import pytest
from infra.containers import BASE_IMAGE, REPO
from rust_workspace import make_workspace

pytestmark = pytest.mark.docker

CONFIG_PATH = REPO / "devcontainer" / "devcontainer.json"
# Where the built image is kept between sessions, so the next build is all cache hits.
IMAGE_TAG = "buildcache/devcontainer:devcontainer-json"
# cargo build of the fixture compiles 6 units: gen_lib's build script, gen_lib,
# core_lib, hello_derive, where_am_i and app.
UNITS = 6
UID = 1000  # the image's user, who owns the checkout in a Codespace


@pytest.fixture(scope="module")
def config() -> dict:  # type: ignore[type-arg]
    return spec.read_config(CONFIG_PATH)


@pytest.fixture(scope="module")
def devcontainer_image(docker_client, image_name, config, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """The image built from the file's build section, as a tool would build it.

    Its base image (Debian's own) needs a registry, which this machine lacks: the
    debootstrapped one `make base-image` made stands in for it. Depends on `image`
    (through image_name: `make image`) for that base, the wheelhouse and the shared
    layers: only the playbook's run differs, as the cache dir is a build arg.
    """
    previous = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE_TAG],
        capture_output=True,
        text=True,
    ).stdout.strip()
    log = tmp_path_factory.mktemp("devcontainer-build") / "build.log"
    built = cli.build_image(
        config, CONFIG_PATH, tag=IMAGE_TAG, arg_overrides={"BASE_IMAGE": BASE_IMAGE}, log=log
    )
    if previous and previous != built:
        subprocess.run(["docker", "image", "rm", previous], capture_output=True)

    def layer_under_the_cache_dir(image: str) -> str:
        history = docker_client.images.get(image).history()
        env = next(
            i for i, layer in enumerate(history) if "ENV CARGO_TARGET_DIR=" in layer["CreatedBy"]
        )
        return history[env + 1]["Id"]  # type: ignore[no-any-return]

    assert layer_under_the_cache_dir(built) == layer_under_the_cache_dir(image_name), log
    return built


@pytest.fixture
def labels(docker_client) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A label for this test's containers; they and their volumes are removed after it,
    also when a lifecycle command failed before up() returned."""
    from docker.errors import NotFound

    value = f"devcontainer-up-{uuid.uuid4().hex[:12]}"
    yield {"buildcache-kit-test": value}
    found = docker_client.containers.list(
        all=True, filters={"label": f"buildcache-kit-test={value}"}
    )
    volumes = {m["Name"] for box in found for m in box.attrs["Mounts"] if m["Type"] == "volume"}
    for box in found:  # containers first: they hold the volumes
        box.remove(force=True)
    for name in volumes:
        try:
            docker_client.volumes.get(name).remove(force=True)
        except NotFound:
            pass


def chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, uid)


def build(dev: cli.DevContainer) -> tuple[dict, str]:  # type: ignore[type-arg]
    """cargo build in the workspace folder, as the user's terminal runs it."""
    dev.check("buildcache stats --zero")
    dev.check("cargo build 2>&1")
    stats = json.loads(dev.check("buildcache stats --json"))
    return stats, dev.check('"$CARGO_TARGET_DIR"/debug/app')


def test_a_codespace_rebuild_keeps_the_cache_in_workspaces_and_the_next_build_hits(
    docker_client, config, devcontainer_image, labels, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # root's, so the user cannot create the cache dir there: postStartCommand must.
    workspaces = tmp_path / "workspaces"
    workspaces.mkdir(mode=0o755)
    project = make_workspace(workspaces / "project").root
    chown_tree(project, UID)
    codespace = {
        "workspaceMount": f"type=bind,source={workspaces},target=/workspaces",
        "workspaceFolder": "/workspaces/project",
    }

    def up() -> cli.DevContainer:
        return cli.up(
            docker_client,
            config,
            CONFIG_PATH,
            project,
            devcontainer_image,
            host_overrides=codespace,
            labels=labels,
        )

    first = up()
    # postStartCommand ran as remoteUser: cron started, volumes claimed, doctor happy.
    assert "Everything looks good." in first.lifecycle_output["postStartCommand"]
    assert first.check("id -un").strip() == config["remoteUser"]
    assert first.exec("pgrep -x cron").exit_code == 0
    cache_dir = first.check("printenv BUILDCACHE_DIR").strip()
    assert cache_dir == "/workspaces/.buildcache"
    # cron sees no container environment: the config file must name the same dir.
    assert f"BUILDCACHE_DIR = {cache_dir}" in first.check("cat /etc/buildcache.conf")
    target_volume = f"buildcache-target-{first.dev_id}"
    assert first.volumes == [target_volume]

    first_stats, first_output = build(first)
    assert (first_stats["misses"], first_stats["hits"], first_stats["errors"]) == (UNITS, 0, 0)
    assert "manifest dir: /workspaces/project/crates/where_am_i" in first_output
    # The cache is on the workspace disk, marked as buildcache's.
    assert (workspaces / ".buildcache" / "CACHEDIR.TAG").is_file()

    # A full rebuild: the container and its volumes go; the workspace disk stays.
    cli.down(docker_client, first, remove_volumes=True)
    assert target_volume not in [volume.name for volume in docker_client.volumes.list()]

    second = up()
    assert second.dev_id == first.dev_id and second.volumes == [target_volume]
    assert "Everything looks good." in second.lifecycle_output["postStartCommand"]
    assert second.exec('test -e "$CARGO_TARGET_DIR"/debug').exit_code != 0  # a new volume
    second_stats, second_output = build(second)
    assert (second_stats["hits"], second_stats["misses"], second_stats["errors"]) == (UNITS, 0, 0)
    assert second_output == first_output


def test_a_local_devcontainer_gets_a_writable_cache_dir_from_the_image(
    docker_client, config, devcontainer_image, labels, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A local tool mounts only the project folder: /workspaces is the image's."""
    project = tmp_path / "project"
    project.mkdir()
    chown_tree(project, UID)
    dev = cli.up(docker_client, config, CONFIG_PATH, project, devcontainer_image, labels=labels)
    assert dev.workspace_folder == "/workspaces/project"
    assert "Everything looks good." in dev.lifecycle_output["postStartCommand"]
    assert dev.check("stat -c %u /workspaces/.buildcache").strip() == str(UID)

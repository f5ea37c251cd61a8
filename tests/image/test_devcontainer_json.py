"""devcontainer/devcontainer.json against the image it builds.

No devcontainer CLI here (it comes from a package registry), so the file is
checked for what a tool would do with it, and its lifecycle command is run in a
container started the way the devcontainer CLI starts one: the mounts from the
file and the image's entrypoint replaced by a keep-alive shell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from infra.containers import REPO

pytestmark = pytest.mark.docker

DEVCONTAINER_DIR = REPO / "devcontainer"
# What the devcontainer CLI runs instead of the image's entrypoint and command
# when overrideCommand is true (the default for Dockerfile-based configs).
KEEP_ALIVE = ["/bin/sh", "-c", 'trap "exit 0" 15; while sleep 1 & wait $!; do :; done']


def load_jsonc(path: Path) -> dict:  # type: ignore[type-arg]
    """devcontainer.json is JSON with comments: drop whole-line // comments."""
    text = re.sub(r"(?m)^\s*//.*$", "", path.read_text())
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def config() -> dict:  # type: ignore[type-arg]
    return load_jsonc(DEVCONTAINER_DIR / "devcontainer.json")


def test_it_builds_the_repository_dockerfile_from_the_repository_root(config) -> None:  # type: ignore[no-untyped-def]
    build = config["build"]
    assert (DEVCONTAINER_DIR / build["dockerfile"]).resolve() == REPO / "Dockerfile"
    assert (DEVCONTAINER_DIR / build["context"]).resolve() == REPO


def test_it_connects_as_the_images_user(config, image) -> None:  # type: ignore[no-untyped-def]
    assert config["remoteUser"] == image["User"] != "root"


def test_its_volumes_are_per_project_and_mounted_where_the_image_keeps_them(
    config, image_env
) -> None:  # type: ignore[no-untyped-def]
    mounts = {mount["target"]: mount for mount in config["mounts"]}
    assert set(mounts) == {image_env["CARGO_TARGET_DIR"], image_env["BUILDCACHE_DIR"]}
    sources = [mount["source"] for mount in mounts.values()]
    assert all(mount["type"] == "volume" for mount in mounts.values())
    assert all("${devcontainerId}" in source for source in sources), sources
    assert len(set(sources)) == len(sources), sources


def test_its_lifecycle_command_passes_doctor_in_a_container_started_like_a_devcontainer(
    config, run_container, make_volume
) -> None:  # type: ignore[no-untyped-def]
    command = config["postStartCommand"]
    assert "buildcache doctor" in command
    volumes = {make_volume(): mount["target"] for mount in config["mounts"]}
    box = run_container(volumes=volumes, entrypoint=KEEP_ALIVE)
    assert box.exec("pgrep -x cron").exit_code != 0  # the entrypoint did not run
    run = box.exec(command, user=config["remoteUser"])
    assert run.exit_code == 0, run.output
    assert "Everything looks good." in run.output, run.output
    assert box.exec("pgrep -x cron").exit_code == 0  # the lifecycle command started it

"""devcontainer/devcontainer.json against the image `make image` builds.

test_devcontainer_up.py runs the file as a devcontainer tool would; these are the
quick checks of what it says.
"""

from __future__ import annotations

import devcontainer_spec
import pytest
from infra.containers import REPO

pytestmark = pytest.mark.docker

DEVCONTAINER_DIR = REPO / "devcontainer"


@pytest.fixture(scope="module")
def config() -> dict:  # type: ignore[type-arg]
    return devcontainer_spec.read_config(DEVCONTAINER_DIR / "devcontainer.json")


def test_it_builds_the_repository_dockerfile_from_the_repository_root(config) -> None:  # type: ignore[no-untyped-def]
    build = config["build"]
    assert (DEVCONTAINER_DIR / build["dockerfile"]).resolve() == REPO / "Dockerfile"
    assert (DEVCONTAINER_DIR / build["context"]).resolve() == REPO


def test_it_connects_as_the_images_user(config, image) -> None:  # type: ignore[no-untyped-def]
    assert config["remoteUser"] == image["User"] != "root"


def test_the_target_dir_is_a_per_project_volume_and_the_cache_is_in_workspaces(
    config, image_env
) -> None:  # type: ignore[no-untyped-def]
    """A Codespace's full rebuild deletes volumes and keeps /workspaces: the target
    dir can be rebuilt from the cache, the cache must survive."""
    (mount,) = config["mounts"]
    assert mount["type"] == "volume"
    assert mount["target"] == image_env["CARGO_TARGET_DIR"]
    assert "${devcontainerId}" in mount["source"]
    cache_dir = config["build"]["args"]["BUILDCACHE_DIR"]
    assert cache_dir.startswith("/workspaces/")
    assert "BUILDCACHE_DIR" not in config.get("containerEnv", {})  # one source: the image
    assert "BUILDCACHE_DIR" not in config.get("remoteEnv", {})


def test_its_lifecycle_command_starts_what_the_entrypoint_would_and_runs_doctor(
    config, image
) -> None:  # type: ignore[no-untyped-def]
    command = config["postStartCommand"]
    assert command.startswith("buildcache-container-init")
    assert "/usr/local/bin/buildcache-container-init" in image["Entrypoint"]
    assert "buildcache doctor" in command


def test_a_codespace_reads_the_teams_remote_cache_read_only(config) -> None:  # type: ignore[no-untyped-def]
    """Read-only is set here; the URL and key are Codespaces secrets, never in the file."""
    assert config["remoteEnv"]["BUILDCACHE_REMOTE_READ_ONLY"] == "1"
    assert set(config["secrets"]) == {"BUILDCACHE_REMOTE", "BUILDCACHE_REMOTE_SIGNING_KEY"}
    for where in ("remoteEnv", "containerEnv"):
        assert "BUILDCACHE_REMOTE" not in config.get(where, {})
        assert "BUILDCACHE_REMOTE_SIGNING_KEY" not in config.get(where, {})

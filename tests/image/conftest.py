"""Containers of the built devcontainer image (`make image`), checked with testinfra.

The image is built once per session by `make image`, which reuses the base
image and the wheelhouse when they are current and the classic builder's layer
cache when nothing changed. Containers and volumes made here are removed at the
end of the session.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from infra.containers import REPO, Container

IMAGE = os.environ.get("DEVCONTAINER_IMAGE", "buildcache/devcontainer:latest")
LABEL = {"buildcache-kit-test": "image"}


@pytest.fixture(scope="session")
def image(docker_client) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """`make image`, then the built image's config (User, Env, Entrypoint, ...)."""
    base_is_current = subprocess.run([str(REPO / "images" / "base" / "build.sh"), "--check"])
    if os.geteuid() != 0 and base_is_current.returncode != 0:
        # make image depends on make base-image, which debootstraps as root
        # when the base image is missing or out of date (`sudo make test-deps base-image`).
        pytest.skip("building the base image for `make image` needs root")
    subprocess.run(["make", "-C", str(REPO), "image"], check=True)
    return docker_client.images.get(IMAGE).attrs["Config"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def image_name(image) -> str:  # type: ignore[no-untyped-def]
    """The built image's name, once `make image` has run."""
    return IMAGE


@pytest.fixture(scope="session")
def image_env(image) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(item.split("=", 1) for item in image["Env"])


@pytest.fixture(scope="session")
def make_volume(docker_client) -> Iterator[Callable[[], str]]:  # type: ignore[no-untyped-def]
    """A factory of fresh named volumes, removed at the end of the session."""
    names: list[str] = []

    def make() -> str:
        name = f"buildcache-image-test-{uuid.uuid4().hex[:12]}"
        docker_client.volumes.create(name, labels=LABEL)
        names.append(name)
        return name

    yield make
    for name in names:
        docker_client.volumes.get(name).remove(force=True)


@pytest.fixture(scope="session")
def run_container(docker_client, image, make_volume) -> Iterator[Callable[..., Container]]:  # type: ignore[no-untyped-def]
    """A factory of running containers of the image, with the image's entrypoint.

    `volumes` maps named volumes to mount points; `entrypoint` overrides the
    image's (devcontainer tools replace it with their own keep-alive loop).
    Depends on make_volume so the containers are removed before their volumes.
    """
    started: list[object] = []

    def run(
        *, volumes: dict[str, str] | None = None, entrypoint: list[str] | None = None
    ) -> Container:
        raw = docker_client.containers.run(
            IMAGE,
            ["sleep", "infinity"] if entrypoint is None else [],
            entrypoint=entrypoint,
            detach=True,
            volumes={name: {"bind": path, "mode": "rw"} for name, path in (volumes or {}).items()},
            labels=LABEL,
        )
        started.append(raw)
        return Container(raw)

    yield run
    for raw in started:
        raw.remove(force=True)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def box(run_container) -> Container:  # type: ignore[no-untyped-def]
    """One container of the image as `docker run` starts it, for read-only checks."""
    return run_container()


@pytest.fixture(scope="session")
def host(box):  # type: ignore[no-untyped-def]
    """testinfra on that container, as the image's default user."""
    return box.testinfra_host()

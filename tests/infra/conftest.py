"""Containers for the provisioning tests: the real playbook on a real Debian root.

The base image is built once per session (`make base-image`, only when it is
missing) and so is the wheelhouse, because containers here cannot reach a
package index. Each scenario starts one container, provisions it once, and
every test of that scenario inspects it with testinfra.
"""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers import BASE_IMAGE, REPO, SYSTEMD_IMAGE, WHEELHOUSE, Container, repo_files, tar_of


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    """buildcache/base:bookworm, built once by `make base-image` when missing."""
    import docker

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        if os.geteuid() != 0:
            pytest.skip(f"{BASE_IMAGE} is missing and building it (debootstrap) needs root")
        subprocess.run(["make", "-C", str(REPO), "base-image"], check=True)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def systemd_image(docker_client, base_image) -> str:  # type: ignore[no-untyped-def]
    """The base image plus Debian's systemd, which no container here runs as init: a machine
    with `systemctl` but no user manager to reach. cron's .deb waits in
    /var/cache/buildcache-test, to install it again offline. Built from the Debian mirror
    (which containers reach, unlike PyPI); the classic builder's layer cache makes it a
    no-op until the base image changes."""
    import docker

    dockerfile = (
        f"FROM {base_image}\n"
        "RUN apt-get update -qq \\\n"
        " && apt-get install -y -qq --no-install-recommends systemd >/dev/null \\\n"
        # cron's package, for a test that installs cron again after removing it.
        " && mkdir -p /var/cache/buildcache-test && cd /var/cache/buildcache-test \\\n"
        " && apt-get download -qq cron && rm -rf /var/lib/apt/lists/*\n"
    )
    try:
        previous = docker_client.images.get(SYSTEMD_IMAGE).id
    except docker.errors.ImageNotFound:
        previous = None
    try:
        image, _ = docker_client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=SYSTEMD_IMAGE, rm=True
        )
    except docker.errors.BuildError as error:
        log = "".join(str(line.get("stream", line)) for line in error.build_log)
        pytest.skip(f"cannot build {SYSTEMD_IMAGE} (no Debian mirror?): {log[-1500:]}")
    if previous and previous != image.id:  # an image of an older base: do not leave it behind
        try:
            docker_client.images.remove(previous)
        except docker.errors.APIError:
            pass  # a container still uses it
    return SYSTEMD_IMAGE


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """ansible-core's wheels and this package's wheel, for offline installs."""
    subprocess.run(["make", "-C", str(REPO), "wheelhouse"], check=True)
    assert list(WHEELHOUSE.glob("buildcache-*.whl")), "make wheelhouse built no buildcache wheel"
    return WHEELHOUSE


@pytest.fixture(scope="session")
def start_container(docker_client, base_image, wheelhouse) -> Iterator:  # type: ignore[no-untyped-def]
    """A factory for containers of the base image (or `image`) holding the repository at /src."""
    started: list[object] = []
    volumes: list[str] = []
    files = repo_files()

    def start(*, volume_at: str | None = None, image: str | None = None) -> Container:
        mounts = {}
        if volume_at:
            name = f"buildcache-test-{uuid.uuid4().hex[:12]}"
            volumes.append(name)
            mounts[name] = {"bind": volume_at, "mode": "rw"}
        raw = docker_client.containers.run(
            image or base_image,
            ["sleep", "infinity"],
            detach=True,
            volumes=mounts,
            labels={"buildcache-kit-test": "1"},
        )
        started.append(raw)
        container = Container(raw)
        container.put("/", tar_of(files))
        return container

    yield start
    for raw in started:
        raw.remove(force=True)  # type: ignore[attr-defined]
    for name in volumes:
        docker_client.volumes.get(name).remove(force=True)

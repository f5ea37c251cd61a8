"""The CI recipe (examples/ci, described in docs/devcontainer.md) against the image it builds on."""

from __future__ import annotations

import pytest
import yaml
from infra.containers import REPO

pytestmark = pytest.mark.docker

WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"


@pytest.fixture(scope="module")
def job() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["build"]  # type: ignore[no-any-return]


def test_the_example_caches_the_directory_the_image_uses(job, image_env) -> None:  # type: ignore[no-untyped-def]
    steps = job["steps"]
    cache_steps = [step for step in steps if step.get("uses", "").startswith("actions/cache")]
    assert len(cache_steps) == 1, steps
    assert cache_steps[0]["with"]["path"] == image_env["BUILDCACHE_DIR"]


def test_the_examples_root_job_container_passes_doctor(docker_client, image_name, job) -> None:  # type: ignore[no-untyped-def]
    """CI job containers run as root: the example's env must wire buildcache in for root."""
    output = docker_client.containers.run(
        image_name,
        ["buildcache", "doctor"],
        user="root",
        environment={key: str(value) for key, value in job["env"].items()},
        remove=True,
    ).decode()
    assert "Everything looks good." in output, output
    assert "RUSTC_WRAPPER" in output, output  # doctor found the wrapper through the env

"""The CI recipe (examples/ci, described in docs/devcontainer.md) against the image it builds on."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from infra.containers import REPO

pytestmark = pytest.mark.docker

WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"


@pytest.fixture(scope="module")
def job() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["build"]  # type: ignore[no-any-return]


def test_the_example_shares_a_remote_tier_instead_of_copying_the_cache(job) -> None:  # type: ignore[no-untyped-def]
    steps = job["steps"]
    assert not [step for step in steps if step.get("uses", "").startswith("actions/cache")]
    env = job["env"]
    # Secrets reach buildcache through the environment only, never a command line.
    assert env["BUILDCACHE_REMOTE"] == "${{ secrets.BUILDCACHE_REMOTE }}"
    assert env["BUILDCACHE_REMOTE_SIGNING_KEY"] == "${{ secrets.BUILDCACHE_REMOTE_SIGNING_KEY }}"
    assert "secrets." not in json.dumps(steps)
    # Only pushes to the default branch write; everything else reads.
    read_only = env["BUILDCACHE_REMOTE_READ_ONLY"]
    assert "github.event_name == 'push'" in read_only and "default_branch" in read_only
    # The storage helper starts before the build (when there is a remote), not inside it.
    runs = [step.get("run", "") for step in steps]
    start = runs.index("buildcache helper start")
    assert start < next(n for n, run in enumerate(runs) if run.startswith("cargo build"))
    assert steps[start]["if"] == "env.BUILDCACHE_REMOTE != ''"
    # The background uploads are waited for before the job container goes away.
    last = steps[-1]
    assert last["run"] == "buildcache helper stop" and last["if"] == "always()"


def github_expressions_unset(value: object) -> str:
    """The value as a fork's pull request sees it: no secrets, every ${{ }} empty."""
    return re.sub(r"\$\{\{.*?\}\}", "", str(value)).strip()


def test_the_examples_root_job_container_passes_doctor(docker_client, image_name, job) -> None:  # type: ignore[no-untyped-def]
    """CI job containers run as root: the example's env must wire buildcache in for root."""
    output = docker_client.containers.run(
        image_name,
        ["buildcache", "doctor"],
        user="root",
        environment={key: github_expressions_unset(value) for key, value in job["env"].items()},
        remove=True,
    ).decode()
    assert "Everything looks good." in output, output
    assert "RUSTC_WRAPPER" in output, output  # doctor found the wrapper through the env

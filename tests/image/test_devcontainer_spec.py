"""tests/image/devcontainer_spec.py against the spec, without Docker."""

from __future__ import annotations

import json

import devcontainer_spec as spec
import pytest
from infra.containers import REPO

CONFIG = REPO / "devcontainer" / "devcontainer.json"


def test_jsonc_comments_and_trailing_commas_are_dropped_but_strings_kept() -> None:
    text = """// leading
    {
      "url": "http://example.invalid/a//b", /* block
      comment */ "glob": "src/*.rs",
      "quote": "a \\" // not a comment",
      "list": [1, 2,],  // trailing comma
    }
    """
    assert json.loads(spec.strip_jsonc(text)) == {
        "url": "http://example.invalid/a//b",
        "glob": "src/*.rs",
        "quote": 'a " // not a comment',
        "list": [1, 2],
    }


def test_the_repositorys_devcontainer_json_is_fully_understood() -> None:
    config = spec.read_config(CONFIG)
    assert config["build"]["dockerfile"] == "../Dockerfile"


@pytest.mark.parametrize(
    "extra",
    [
        {"features": {"ghcr.io/devcontainers/features/git:1": {}}},
        {"runArgs": ["--cap-add=SYS_PTRACE"]},
        {"initializeCommand": "make wheelhouse"},
        {"build": {"dockerfile": "Dockerfile", "target": "dev"}},
        {"remoteEnv": {"PATH": None}},
    ],
)
def test_a_setting_that_is_not_implemented_fails_loudly(extra: dict) -> None:  # type: ignore[type-arg]
    config = {"build": {"dockerfile": "Dockerfile"}, **extra}
    with pytest.raises(spec.Unsupported, match="not implemented"):
        spec.check_supported(config)


def test_settings_that_change_nothing_in_the_container_are_accepted() -> None:
    spec.check_supported(
        {
            "name": "x",
            "build": {"dockerfile": "Dockerfile"},
            "customizations": {"vscode": {"extensions": ["rust-lang.rust-analyzer"]}},
            "forwardPorts": [8080],
        }
    )


def test_devcontainer_id_matches_the_specs_reference_implementation() -> None:
    # Computed with the spec's JavaScript (docs/specs/devcontainer-id-variable.md).
    labels = {
        "devcontainer.local_folder": "/home/me/src/kit",
        "devcontainer.config_file": "/home/me/src/kit/devcontainer/devcontainer.json",
    }
    assert spec.devcontainer_id(labels) == "0tpmphk4gri8q8u4l73ogate1l9g28bnl0ii03bio5mnv9cn1erf"
    assert spec.devcontainer_id(dict(reversed(labels.items()))) == spec.devcontainer_id(labels)
    assert (
        spec.devcontainer_id(
            {"devcontainer.local_folder": "/tmp/é", "devcontainer.config_file": "/x"}
        )
        == "1hj3o8sbian5j98hbhu6r32u3n9psql64crqh734lenqq48l00c3"
    )


def test_variables_are_substituted_as_the_spec_defines() -> None:
    resolve = spec.local_resolver(
        local_workspace_folder="/src/proj",
        container_workspace_folder="/workspaces/proj",
        dev_id="abc",
        local_env={"USER_NAME": "me"},
    )
    value = {
        "mounts": ["source=vol-${devcontainerId},target=/x,type=volume"],
        "env": {
            "A": "${localEnv:USER_NAME}",
            "B": "${localEnv:MISSING}",
            "C": "${localEnv:MISSING:fallback}",
            "D": "${localWorkspaceFolderBasename}@${containerWorkspaceFolder}",
            # Not a devcontainer variable: left for the shell, as the reference CLI does.
            "E": "${HOME}/bin",
        },
    }
    assert spec.substitute(value, resolve) == {
        "mounts": ["source=vol-abc,target=/x,type=volume"],
        "env": {
            "A": "me",
            "B": "",
            "C": "fallback",
            "D": "proj@/workspaces/proj",
            "E": "${HOME}/bin",
        },
    }


def test_mounts_in_object_and_string_form() -> None:
    assert spec.parse_mount({"type": "volume", "source": "v", "target": "/t"}) == spec.MountSpec(
        "volume", "v", "/t"
    )
    assert spec.parse_mount(
        "type=bind,src=/a,dst=/b,readonly,consistency=cached"
    ) == spec.MountSpec("bind", "/a", "/b", read_only=True)
    with pytest.raises(spec.Unsupported):
        spec.parse_mount("type=tmpfs,target=/t")


def test_lifecycle_commands_in_string_array_and_object_form() -> None:
    assert spec.lifecycle_processes("a && b", "postStartCommand") == {
        "postStartCommand": ["/bin/sh", "-c", "a && b"]
    }
    assert spec.lifecycle_processes(["echo", "a b"], "onCreateCommand") == {
        "onCreateCommand": ["echo", "a b"]
    }
    assert spec.lifecycle_processes({"x": "true", "y": ["id", "-u"]}, "postCreateCommand") == {
        "postCreateCommand.x": ["/bin/sh", "-c", "true"],
        "postCreateCommand.y": ["id", "-u"],
    }
    with pytest.raises(spec.Unsupported):
        spec.lifecycle_processes(42, "postCreateCommand")

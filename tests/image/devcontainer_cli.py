"""`devcontainer build` and `up` for our devcontainer.json, without the devcontainer CLI.

No devcontainer CLI here (it comes from a registry this machine does not reach), so
this builds the image from the file's `build` section, creates the container with
its mounts, env and user, and runs its lifecycle commands the way the reference CLI
does; devcontainer_spec.py reads the file and refuses what is not done here.

Simplified on purpose: lifecycle commands get the container's environment plus
remoteEnv, not the environment a probe of the user's login shell would add
(`userEnvProbe`); no Features, no Docker Compose, no uid remapping
(`updateRemoteUserUID`, which the CLI skips anyway when the host user is root).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devcontainer_spec import (
    LIFECYCLE_KEYS,
    Unsupported,
    check_supported,
    devcontainer_id,
    env_lookup,
    lifecycle_processes,
    local_resolver,
    parse_mount,
    substitute,
)

# What the reference CLI runs instead of the image's entrypoint when overrideCommand
# is true (the default with `build`): keep the container alive, stop on SIGTERM.
KEEP_ALIVE_ENTRYPOINT = ["/bin/sh"]
KEEP_ALIVE_COMMAND = [
    "-c",
    'echo Container started\ntrap "exit 0" 15\nexec "$@"\nwhile sleep 1 & wait $!; do :; done',
    "-",
]
# The labels the reference CLI identifies a dev container by; ${devcontainerId}
# is derived from them, so it is the same for every rebuild of one project.
LOCAL_FOLDER_LABEL = "devcontainer.local_folder"
CONFIG_FILE_LABEL = "devcontainer.config_file"


class LifecycleCommandFailed(Exception):
    """A lifecycle command exited non-zero; the reference CLI stops there too."""


def build_image(
    config: Mapping[str, Any],
    config_path: Path,
    *,
    tag: str,
    arg_overrides: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> str:
    """`docker build` from the build section (paths relative to the file); the image id.

    arg_overrides replaces build args the file sets, for a host that cannot use the
    file's value (no registry to pull its base image from); naming an arg the file
    does not set is an error, so a renamed arg cannot be overridden by accident.
    Uses the classic builder, as `make image` does, so the two share layers.
    """
    build = config["build"]
    base = config_path.parent
    dockerfile = (base / build["dockerfile"]).resolve()
    context = (base / build.get("context", ".")).resolve()
    args = dict(build.get("args", {}))
    for name, value in (arg_overrides or {}).items():
        if name not in args:
            raise Unsupported(f"build arg override {name!r}: {config_path} sets no such arg")
        args[name] = value
    command = ["docker", "build", "--file", str(dockerfile), "--tag", tag]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    command.append(str(context))
    result = subprocess.run(
        command,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if log is not None:
        log.write_text(result.stdout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}")
    inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", tag]
    return subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class Exec:
    exit_code: int
    output: str


@dataclass
class DevContainer:
    """A running dev container, and what a tool needs to run things in it."""

    raw: Any  # docker.models.containers.Container
    dev_id: str
    workspace_folder: str
    remote_user: str
    remote_env: dict[str, str]
    volumes: list[str]
    lifecycle_output: dict[str, str] = field(default_factory=dict)

    def exec(self, command: str | list[str], *, workdir: str | None = None) -> Exec:
        """Run a command as a tool's terminal would: remoteUser, remoteEnv, workspace."""
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
        exit_code, output = self.raw.exec_run(
            argv,
            user=self.remote_user,
            workdir=workdir or self.workspace_folder,
            environment=self.remote_env,
            demux=False,
        )
        return Exec(exit_code, (output or b"").decode("utf-8", "replace"))

    def check(self, command: str, **kwargs: Any) -> str:
        run = self.exec(command, **kwargs)
        assert run.exit_code == 0, f"`{command}` failed ({run.exit_code}):\n{run.output}"
        return run.output


def up(
    client: Any,
    config: Mapping[str, Any],
    config_path: Path,
    local_workspace_folder: Path,
    image: str,
    *,
    host_overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    local_env: Mapping[str, str] | None = None,
) -> DevContainer:
    """Create and start the container, then run every lifecycle command in order.

    host_overrides are settings the hosting tool puts on top of the file, the way
    Codespaces mounts its whole /workspaces disk rather than the one folder.
    """
    merged = {**config, **(host_overrides or {})}
    check_supported(merged, where=f"{config_path} with the host's overrides")
    local_folder = str(local_workspace_folder)
    id_labels = {LOCAL_FOLDER_LABEL: local_folder, CONFIG_FILE_LABEL: str(config_path)}
    dev_id = devcontainer_id(id_labels)
    env = os.environ if local_env is None else local_env
    resolve_folders = local_resolver(
        local_workspace_folder=local_folder,
        container_workspace_folder=None,
        dev_id=dev_id,
        local_env=env,
    )
    workspace_folder = substitute(
        merged.get("workspaceFolder", "/workspaces/${localWorkspaceFolderBasename}"),
        resolve_folders,
    )
    resolved = substitute(
        merged,
        local_resolver(
            local_workspace_folder=local_folder,
            container_workspace_folder=workspace_folder,
            dev_id=dev_id,
            local_env=env,
        ),
    )
    workspace_mount = resolved.get(
        "workspaceMount",
        f"type=bind,source={local_folder},target={workspace_folder},consistency=cached",
    )
    mounts = [parse_mount(workspace_mount)] + [parse_mount(m) for m in resolved.get("mounts", [])]

    import docker.types

    image_config = client.images.get(image).attrs["Config"]
    container_user = resolved.get("containerUser") or image_config.get("User") or "root"
    remote_user = resolved.get("remoteUser") or container_user
    command = list(KEEP_ALIVE_COMMAND)
    if resolved.get("overrideCommand", True) is False:
        command += (image_config.get("Entrypoint") or []) + (image_config.get("Cmd") or [])
    raw = client.containers.run(
        image,
        command,
        entrypoint=KEEP_ALIVE_ENTRYPOINT,
        user=container_user,
        environment=resolved.get("containerEnv", {}),
        mounts=[
            docker.types.Mount(m.target, m.source or None, type=m.type, read_only=m.read_only)
            for m in mounts
        ],
        labels={**id_labels, **(labels or {})},
        detach=True,
    )
    raw.reload()
    volumes = [m["Name"] for m in raw.attrs["Mounts"] if m["Type"] == "volume"]
    container_env = dict(item.split("=", 1) for item in raw.attrs["Config"]["Env"])

    def resolve_container(name: str, args: list[str]) -> str | None:
        return env_lookup(container_env, args, name) if name == "containerEnv" else None

    remote_env = substitute(resolved.get("remoteEnv", {}), resolve_container)
    dev = DevContainer(raw, dev_id, workspace_folder, remote_user, remote_env, volumes)
    for key in LIFECYCLE_KEYS:
        if key in resolved:
            run_lifecycle(dev, key, substitute(resolved[key], resolve_container))
    return dev


def run_lifecycle(dev: DevContainer, key: str, command: Any) -> None:
    processes = lifecycle_processes(command, key)
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        runs = dict(zip(processes, pool.map(dev.exec, processes.values())))
    for name, run in runs.items():
        dev.lifecycle_output[name] = run.output
        if run.exit_code != 0:
            raise LifecycleCommandFailed(
                f"{name} ({processes[name]}) exited {run.exit_code}:\n{run.output}"
            )


def down(client: Any, dev: DevContainer, *, remove_volumes: bool) -> None:
    """Remove the container and, for a full rebuild, the volumes it had mounted."""
    dev.raw.remove(force=True)
    if remove_volumes:
        for name in dev.volumes:
            client.volumes.get(name).remove(force=True)

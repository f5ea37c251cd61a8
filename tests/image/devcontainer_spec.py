"""devcontainer.json as the Dev Container spec reads it: the subset our file uses.

JSON with comments, the keys a devcontainer tool honours, ${...} variables, mounts and
lifecycle commands, as the reference CLI (`devcontainer up`) treats them. A key not
implemented here raises Unsupported unless it is listed as inert (editor settings,
port forwarding): a file that grows a setting devcontainer_cli.py would silently
ignore must fail the test that reads it instead.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Keys this module honours, each changing what gets built, mounted or run.
HONOURED_KEYS = frozenset(
    {
        "build",
        "containerUser",
        "remoteUser",
        "mounts",
        "containerEnv",
        "remoteEnv",
        "workspaceMount",
        "workspaceFolder",
        "overrideCommand",
        "onCreateCommand",
        "updateContentCommand",
        "postCreateCommand",
        "postStartCommand",
        "postAttachCommand",
    }
)
# Keys that change nothing in the container: names, editor settings, ports a tool
# forwards, when a tool stops the container or how long it waits before attaching;
# `secrets` only names the Codespaces secrets a creation form prompts for (their values
# reach the container through the Codespace's environment, not through this file).
INERT_KEYS = frozenset(
    {
        "secrets",
        "$schema",
        "name",
        "customizations",
        "forwardPorts",
        "portsAttributes",
        "otherPortsAttributes",
        "shutdownAction",
        "waitFor",
        "hostRequirements",
    }
)
BUILD_KEYS = frozenset({"dockerfile", "context", "args"})
LIFECYCLE_KEYS = (
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
)
_VARIABLE = re.compile(r"\$\{(.*?)\}")
# A JSON string is matched first, so // or /* or , inside one is left alone.
_STRING = r'"(?:\\.|[^"\\])*"'
_COMMENT = re.compile(rf"({_STRING})|//[^\n]*|/\*.*?\*/", re.DOTALL)
_TRAILING_COMMA = re.compile(rf"({_STRING})|,(?=\s*[\]}}])")
_BASE32_DIGITS = "0123456789abcdefghijklmnopqrstuv"


class Unsupported(Exception):
    """devcontainer.json asks for something this module does not do."""


# --- Reading the file -------------------------------------------------------


def strip_jsonc(text: str) -> str:
    """JSON with comments (// and /* */) and trailing commas, as plain JSON.

    Comments become spaces (newlines kept, so json's errors point at the right line).
    """
    text = _COMMENT.sub(lambda m: m[1] or re.sub(r"[^\n]", " ", m[0]), text)
    return _TRAILING_COMMA.sub(lambda m: m[1] or "", text)


def load_jsonc(path: Path) -> Any:
    return json.loads(strip_jsonc(path.read_text(encoding="utf-8")))


def check_supported(config: Mapping[str, Any], *, where: str = "devcontainer.json") -> None:
    """Raise Unsupported naming every key that would change behaviour and is not done here."""
    problems = [f"{key!r}" for key in config if key not in HONOURED_KEYS and key not in INERT_KEYS]
    if "build" not in config:
        problems.append("no 'build' section (only Dockerfile-based configs are done here)")
    build = config.get("build", {})
    problems += [f"'build.{key}'" for key in build if key not in BUILD_KEYS]
    for key in LIFECYCLE_KEYS:
        if key in config:
            lifecycle_processes(config[key], key)  # raises on a malformed command
    for mount in config.get("mounts", []):
        parse_mount(mount)  # raises on a key or type not done here
    remote_env = config.get("remoteEnv", {})
    problems += [
        f"'remoteEnv.{name}' = null (unsetting a variable)"
        for name, value in remote_env.items()
        if value is None
    ]
    if problems:
        raise Unsupported(
            f"{where}: not implemented by tests/image/devcontainer_spec.py and _cli.py: "
            + "; ".join(problems)
            + ". Implement it there (or list it as inert if it changes nothing in the "
            "container), so the test keeps running the file as a devcontainer tool would."
        )


def read_config(path: Path) -> dict[str, Any]:
    config = load_jsonc(path)
    if not isinstance(config, dict):
        raise Unsupported(f"{path}: expected a JSON object at the top level")
    check_supported(config, where=str(path))
    return config


# --- Variables ---------------------------------------------------------------


def devcontainer_id(id_labels: Mapping[str, str]) -> str:
    """The spec's label-based ${devcontainerId}: SHA-256 of the sorted labels as
    compact JSON, in base 32 (digits 0-9a-v), left-padded with 0 to 52 characters."""
    text = json.dumps(dict(sorted(id_labels.items())), separators=(",", ":"), ensure_ascii=False)
    number = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    digits = ""
    while number:
        number, digit = divmod(number, 32)
        digits = _BASE32_DIGITS[digit] + digits
    return digits.rjust(52, "0")


Resolver = Callable[[str, list[str]], "str | None"]


def substitute(value: Any, resolve: Resolver) -> Any:
    """Replace ${name} and ${name:arg:...} in every string of value, as the reference
    CLI does: a variable the resolver does not know (None) stays as written, so a
    shell's own ${HOME} in a command reaches the shell."""

    def one(match: re.Match[str]) -> str:
        name, *args = match[1].split(":")
        resolved = resolve(name, args)
        return match[0] if resolved is None else resolved

    if isinstance(value, str):
        return _VARIABLE.sub(one, value)
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}
    return value


def env_lookup(environ: Mapping[str, str], args: list[str], variable: str) -> str:
    """${localEnv:NAME} / ${containerEnv:NAME[:default]}: unset is the default or ''."""
    if not args:
        raise Unsupported(f"${{{variable}}} names no environment variable")
    if args[0] in environ:
        return environ[args[0]]
    return args[1] if len(args) > 1 else ""


def local_resolver(
    *,
    local_workspace_folder: str,
    container_workspace_folder: str | None,
    dev_id: str,
    local_env: Mapping[str, str],
) -> Resolver:
    """Variables known before the container exists (localEnv, the folders, the id)."""
    known = {
        "localWorkspaceFolder": local_workspace_folder,
        "localWorkspaceFolderBasename": posixpath.basename(local_workspace_folder),
        "localHomeFolder": local_env.get("HOME", ""),
        "devcontainerId": dev_id,
    }
    if container_workspace_folder is not None:
        known["containerWorkspaceFolder"] = container_workspace_folder
        known["containerWorkspaceFolderBasename"] = posixpath.basename(container_workspace_folder)

    def resolve(name: str, args: list[str]) -> str | None:
        if name in ("localEnv", "env"):
            return env_lookup(local_env, args, name)
        return known.get(name)

    return resolve


# --- Mounts and lifecycle commands -------------------------------------------


@dataclass(frozen=True)
class MountSpec:
    type: str
    source: str
    target: str
    read_only: bool = False


_MOUNT_KEY_ALIASES = {
    "type": "type",
    "source": "source",
    "src": "source",
    "target": "target",
    "destination": "target",
    "dst": "target",
    "readonly": "readonly",
    "ro": "readonly",
    "consistency": "consistency",  # macOS file sharing only: changes nothing on Linux
}


def parse_mount(mount: str | Mapping[str, Any]) -> MountSpec:
    """A mounts entry: an object {type, source, target} or docker's --mount string."""
    if isinstance(mount, str):
        fields: dict[str, str] = {}
        for item in mount.split(","):
            key, _, value = item.partition("=")
            if key.strip() not in _MOUNT_KEY_ALIASES:
                raise Unsupported(f"mount option {key!r} in {mount!r}")
            fields[_MOUNT_KEY_ALIASES[key.strip()]] = value.strip()
    else:
        unknown = set(mount) - {"type", "source", "target"}
        if unknown:
            raise Unsupported(f"mount keys {sorted(unknown)} in {dict(mount)!r}")
        fields = {key: str(value) for key, value in mount.items()}
    if fields.get("type") not in ("bind", "volume"):
        raise Unsupported(f"mount type {fields.get('type')!r} in {mount!r}")
    if "target" not in fields:
        raise Unsupported(f"mount without a target: {mount!r}")
    read_only = fields.get("readonly", "false") in ("", "1", "true")
    return MountSpec(fields["type"], fields.get("source", ""), fields["target"], read_only)


def lifecycle_processes(command: Any, key: str) -> dict[str, list[str]]:
    """The processes one lifecycle key starts, by name: a string runs in /bin/sh, an
    array is one process without a shell, an object is named commands (either form)
    that run in parallel."""
    if isinstance(command, str):
        return {key: ["/bin/sh", "-c", command]}
    if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        return {key: list(command)}
    if isinstance(command, dict) and command:
        processes: dict[str, list[str]] = {}
        for name, item in command.items():
            if isinstance(item, dict):
                raise Unsupported(f"{key}.{name}: nested objects are not commands")
            processes[f"{key}.{name}"] = lifecycle_processes(item, key)[key]
        return processes
    raise Unsupported(f"{key}: expected a string, an array of strings or an object: {command!r}")

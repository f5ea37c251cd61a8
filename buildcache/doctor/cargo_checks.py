"""Doctor checks of how cargo is wired: it runs buildcache (not sccache), into a shared target."""

from __future__ import annotations

import os
from pathlib import Path

from buildcache.doctor.cargo_config import (
    CargoConfigError,
    Setting,
    cargo_home,
    find_config_program,
    settings,
)
from buildcache.doctor.model import CheckResult, Setup, fail, ok, warn

WRAPPER_KEY = "build.rustc-wrapper"
WORKSPACE_WRAPPER_KEY = "build.rustc-workspace-wrapper"
TARGET_DIR_KEY = "build.target-dir"
WIRE_FIX = (
    'Run `make provision`, or add `[build]` / `rustc-wrapper = "buildcache"` to '
    "~/.cargo/config.toml, or `export RUSTC_WRAPPER=buildcache`."
)


def _program_name(value: str) -> str:
    name = os.path.basename(value)
    return name[: -len(".exe")] if name.endswith(".exe") else name


def _describe(setting: Setting, key: str) -> str:
    if setting.from_environment:
        return f"{setting.origin}={setting.value!r} in the environment"
    return f'{key} = "{setting.value}" in {setting.origin}'


def _undo(setting: Setting, key: str) -> str:
    if setting.from_environment:
        return f"unset {setting.origin} (look in shell profiles and CI settings)"
    return f"remove {key} from {setting.origin}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _read(key: str, setup: Setup, env_overrides: tuple[str, ...]) -> list[Setting]:
    home = cargo_home(setup.environ, setup.home)
    found = settings(
        key, environ=setup.environ, cwd=setup.cwd, cargo_home_dir=home, env_overrides=env_overrides
    )
    return list(found)


def check_wrapper(setup: Setup) -> CheckResult:
    """cargo's effective rustc-wrapper is buildcache, and sccache is not in the way."""
    name = "cargo-wrapper"
    try:
        found = _read(WRAPPER_KEY, setup, ("RUSTC_WRAPPER",))
        workspace = _read(WORKSPACE_WRAPPER_KEY, setup, ("RUSTC_WORKSPACE_WRAPPER",))
    except CargoConfigError as error:
        return fail(name, f"cargo cannot read its config: {error}", f"Fix or remove {error.path}.")
    if not found:
        return fail(name, "cargo does not run buildcache: no rustc-wrapper is set", WIRE_FIX)
    effective = found[0]
    ours = next((s for s in found if _program_name(s.value) == "buildcache"), None)
    overridden = f"; it overrides {_describe(ours, WRAPPER_KEY)}" if ours else ""
    if effective.value == "":
        return fail(
            name,
            f"{effective.origin} is set but empty, which turns cargo's wrapper off{overridden}",
            f"Unset {effective.origin}. {'' if ours else WIRE_FIX}".strip(),
        )
    program = _program_name(effective.value)
    if program != "buildcache":
        why = " (environment variables beat cargo config files)" if ours else ""
        return fail(
            name,
            f"cargo runs {program}, not buildcache: {_describe(effective, WRAPPER_KEY)} "
            f"wins{why}{overridden}",
            f"{_sentence(_undo(effective, WRAPPER_KEY))}. {'' if ours else WIRE_FIX}".strip(),
        )
    if workspace and workspace[0].value:
        return fail(
            name,
            f"{_describe(workspace[0], WORKSPACE_WRAPPER_KEY)} makes cargo run "
            f"`buildcache {workspace[0].value} rustc` for workspace crates",
            f"{_sentence(_undo(workspace[0], WORKSPACE_WRAPPER_KEY))}.",
        )
    resolved = find_config_program(
        effective.value, effective.base_dir, search_path=setup.search_path
    )
    if resolved is None:
        return fail(
            name,
            f"{_describe(effective, WRAPPER_KEY)}, but cargo cannot find that program"
            + (" on PATH" if os.sep not in effective.value else ""),
            "Install buildcache (`make provision`) or fix the path.",
        )
    shadowed = [s for s in found[1:] if _program_name(s.value) == "sccache"]
    if shadowed:
        return warn(
            name,
            f"cargo runs {resolved} ({effective.origin}), but "
            f"{_describe(shadowed[0], WRAPPER_KEY)} is waiting to take over if that goes",
            f"{_sentence(_undo(shadowed[0], WRAPPER_KEY))}.",
        )
    return ok(name, f"cargo runs {resolved} as rustc-wrapper ({effective.origin})")


def check_target_dir(setup: Setup) -> CheckResult:
    """One absolute, writable target dir for every workspace."""
    from buildcache.doctor.model import writable_dir_problem

    name = "target-dir"
    home = cargo_home(setup.environ, setup.home)
    try:
        found = _read(TARGET_DIR_KEY, setup, ("CARGO_TARGET_DIR",))
    except CargoConfigError as error:
        return fail(name, f"cargo cannot read its config: {error}", f"Fix or remove {error.path}.")
    share_fix = (
        "Run `make provision` (sets build.target-dir in ~/.cargo/config.toml), or "
        "`export CARGO_TARGET_DIR=$HOME/.cache/cargo-target`."
    )
    if not found:
        return warn(
            name, "no shared target dir: each workspace builds into its own target/", share_fix
        )
    effective = found[0]
    if effective.value == "":
        return fail(name, f"{effective.origin} is set but empty; cargo refuses that", share_fix)
    path = effective.base_dir / effective.value
    problem = writable_dir_problem(path)
    if problem is not None:
        return fail(
            name,
            f"the target dir is not writable ({_describe(effective, TARGET_DIR_KEY)}): "
            f"{problem}; cargo build fails",
            f"Make {path} writable by this user, or point "
            f"{effective.origin if effective.from_environment else TARGET_DIR_KEY} elsewhere.",
        )
    if effective.from_environment:  # relative values follow the current directory
        shared = Path(effective.value).is_absolute()
    else:  # a workspace's own .cargo/config.toml applies to that workspace only
        shared = Path(effective.origin).parent == home
    if not shared:
        return warn(
            name,
            f"{path} is only used from here ({_describe(effective, TARGET_DIR_KEY)}); "
            "other workspaces do not share it",
            share_fix,
        )
    state = "writable" if path.is_dir() else "can be created"
    return ok(name, f"{path} ({effective.origin}) is shared and {state}")

from __future__ import annotations

from pathlib import Path

from doctor_setup import make_setup

from buildcache.doctor.cargo_checks import check_target_dir, check_wrapper
from buildcache.doctor.model import Status

WIRED = '[build]\nrustc-wrapper = "buildcache"\n'


def workspace_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "work" / ".cargo" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_not_wired_fails(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path))
    assert result.status is Status.FAIL and "rustc-wrapper" in str(result.fix)


def test_wired_in_cargo_home(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path, cargo_config=WIRED))
    assert result.status is Status.OK, result
    assert "config.toml" in result.message


def test_wired_by_environment(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path, RUSTC_WRAPPER="buildcache"))
    assert result.status is Status.OK and "RUSTC_WRAPPER" in result.message


def test_sccache_in_the_environment_wins_over_config(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path, cargo_config=WIRED, RUSTC_WRAPPER="sccache"))
    assert result.status is Status.FAIL
    assert "runs sccache, not buildcache" in result.message
    assert "RUSTC_WRAPPER='sccache'" in result.message and "wins" in result.message
    assert "config.toml" in result.message  # names what it overrides
    assert str(result.fix).startswith("Unset RUSTC_WRAPPER")


def test_sccache_alone_fails_with_the_wiring_fix(tmp_path: Path) -> None:
    config = '[build]\nrustc-wrapper = "/usr/bin/sccache"\n'
    result = check_wrapper(make_setup(tmp_path, cargo_config=config))
    assert result.status is Status.FAIL and 'rustc-wrapper = "buildcache"' in str(result.fix)


def test_an_empty_rustc_wrapper_turns_the_wrapper_off(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path, cargo_config=WIRED, RUSTC_WRAPPER=""))
    assert result.status is Status.FAIL and "empty" in result.message


def test_shadowed_sccache_warns(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, cargo_config='[build]\nrustc-wrapper = "sccache"\n')
    workspace_config(tmp_path, WIRED)
    result = check_wrapper(setup)
    assert result.status is Status.WARN and "sccache" in result.message


def test_sccache_as_workspace_wrapper_fails(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, cargo_config=WIRED, RUSTC_WORKSPACE_WRAPPER="sccache")
    assert check_wrapper(setup).status is Status.FAIL


def test_a_wrapper_cargo_cannot_find_fails(tmp_path: Path) -> None:
    config = '[build]\nrustc-wrapper = "/nowhere/buildcache"\n'
    result = check_wrapper(make_setup(tmp_path, cargo_config=config))
    assert result.status is Status.FAIL and "cannot find" in result.message


def test_invalid_cargo_config_fails(tmp_path: Path) -> None:
    result = check_wrapper(make_setup(tmp_path, cargo_config="[build\n"))
    assert result.status is Status.FAIL and "not valid TOML" in result.message


def test_no_target_dir_warns(tmp_path: Path) -> None:
    result = check_target_dir(make_setup(tmp_path))
    assert result.status is Status.WARN and "CARGO_TARGET_DIR" in str(result.fix)


def test_target_dir_from_cargo_home_is_shared(tmp_path: Path) -> None:
    config = f'[build]\ntarget-dir = "{tmp_path}/target"\n'
    result = check_target_dir(make_setup(tmp_path, cargo_config=config))
    assert result.status is Status.OK and "shared" in result.message


def test_target_dir_from_environment(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, CARGO_TARGET_DIR=str(tmp_path / "t"))
    assert check_target_dir(setup).status is Status.OK
    relative = check_target_dir(make_setup(tmp_path, CARGO_TARGET_DIR="target"))
    assert relative.status is Status.WARN and "do not share" in relative.message


def test_a_workspace_target_dir_is_not_shared(tmp_path: Path) -> None:
    workspace_config(tmp_path, f'[build]\ntarget-dir = "{tmp_path}/t"\n')
    assert check_target_dir(make_setup(tmp_path)).status is Status.WARN


def test_an_unwritable_target_dir_fails(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    setup = make_setup(tmp_path, CARGO_TARGET_DIR=str(tmp_path / "blocker" / "target"))
    result = check_target_dir(setup)
    assert result.status is Status.FAIL and "CARGO_TARGET_DIR" in str(result.fix)

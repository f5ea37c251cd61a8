"""The fast launcher (buildcache/launcher.py) written over pip's script, in the layouts
pip installs to: a virtualenv, a --user install, Debian's system pip behind a symlink."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import buildcache
from buildcache import launcher

PACKAGE = Path(buildcache.__file__).resolve().parent
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"
# (where pip puts the package, where it puts the script), relative to a root dir.
LAYOUTS = {
    "venv": (f"venv/lib/{PY}/site-packages", "venv/bin"),
    "user": (f"home/.local/lib/{PY}/site-packages", "home/.local/bin"),
    "debian-system": ("usr/local/lib/python3/dist-packages", "usr/local/bin"),
}
FAKE_VERSION = "0.0.0+launcher-test"


def pip_script(interpreter: str) -> str:
    """What pip writes for `buildcache = buildcache.main:main`."""
    return (
        f"#!{interpreter}\n"
        "import sys\n"
        "from buildcache.main import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n"
        "    sys.exit(main())\n"
    )


def fake_install(root: Path, layout: str) -> tuple[Path, Path]:
    """A copy of this package installed as pip would: (site dir, script). Its version
    is FAKE_VERSION, so `--version` tells this copy from the one pytest runs."""
    site_rel, bin_rel = LAYOUTS[layout]
    site_dir, bin_dir = root / site_rel, root / bin_rel
    shutil.copytree(PACKAGE, site_dir / "buildcache", ignore=shutil.ignore_patterns("__pycache__"))
    init = site_dir / "buildcache" / "__init__.py"
    init.write_text(init.read_text().replace(buildcache.__version__, FAKE_VERSION))
    dist_info = site_dir / "buildcache-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: buildcache\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[console_scripts]\nbuildcache = buildcache.main:main\n"
    )
    script = bin_dir / "buildcache"
    record = os.path.relpath(script, site_dir)
    (dist_info / "RECORD").write_text(
        f"buildcache/__init__.py,,\n{record},,\nbuildcache-0.1.0.dist-info/RECORD,,\n"
    )
    bin_dir.mkdir(parents=True, exist_ok=True)
    script.write_text(pip_script(sys.executable))
    script.chmod(0o755)
    return site_dir, script


def write_launcher(
    site_dir: Path, cwd: Path, *, client: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m buildcache.launcher` as the installed interpreter would run it; the
    Python launcher unless client (the launch client: tests/test_launch.py)."""
    args = [] if client else ["--no-client"]
    code = (
        f"import sys; sys.path.insert(0, {str(site_dir)!r}); "
        f"from buildcache.launcher import main; sys.exit(main({args!r}))"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=cwd, capture_output=True, text=True
    )


def run(command: list[str | Path], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_launcher_replaces_pips_script_and_runs_the_installed_copy(
    tmp_path: Path, cache_dir: Path, layout: str
) -> None:
    site_dir, script = fake_install(tmp_path, layout)
    written = write_launcher(site_dir, tmp_path)
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith("buildcache: wrote"), written.stdout

    text = script.read_text()
    assert text.splitlines()[0] == f"#!{sys.executable} -IS"
    assert launcher.MARKER in text and repr([str(site_dir)]) in text
    assert script.stat().st_mode & 0o777 == 0o755
    version = run([script, "--version"])
    assert version.stdout == f"buildcache {FAKE_VERSION}\n", version.stderr
    # A wrapper call: not cacheable, so the "compiler" is run with its arguments.
    wrapped = run([script, "/bin/echo", "-vV"])
    assert (wrapped.returncode, wrapped.stdout) == (0, "-vV\n"), wrapped.stderr

    again = write_launcher(site_dir, tmp_path)
    assert again.stdout.startswith("buildcache: unchanged"), again.stdout
    assert script.read_text() == text


def test_a_symlink_to_the_launcher_runs_it(tmp_path: Path, cache_dir: Path) -> None:
    """The provisioning role links /usr/local/bin/buildcache to the virtualenv's script."""
    site_dir, script = fake_install(tmp_path, "venv")
    assert write_launcher(site_dir, tmp_path).returncode == 0
    link = tmp_path / "usr" / "local" / "bin" / "buildcache"
    link.parent.mkdir(parents=True)
    link.symlink_to(script)
    assert run([link, "--version"]).stdout == f"buildcache {FAKE_VERSION}\n"
    assert run([link, "/bin/echo", "-vV"]).stdout == "-vV\n"
    # Run again through the link: the file behind it is what is rewritten.
    assert write_launcher(site_dir, tmp_path).stdout.startswith("buildcache: unchanged")


def test_run_from_a_checkout_it_still_finds_what_pip_installed(tmp_path: Path) -> None:
    """`python -m` puts the working directory first; a source tree there (and a stale
    egg-info) must not be mistaken for the installation."""
    site_dir, script = fake_install(tmp_path, "venv")
    checkout = tmp_path / "checkout"
    shutil.copytree(PACKAGE, checkout / "buildcache", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "buildcache.egg-info").mkdir()
    (checkout / "buildcache.egg-info" / "PKG-INFO").write_text("Name: buildcache\nVersion: 9\n")
    code = (
        f"import sys; sys.path[1:1] = [{str(site_dir)!r}]; "
        "from buildcache.launcher import main; sys.exit(main(['--no-client']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True
    )
    assert result.stdout.startswith("buildcache: wrote"), (result.stdout, result.stderr)
    assert repr([str(site_dir)]) in script.read_text()


def test_a_launcher_whose_package_is_gone_starts_python_the_ordinary_way(
    tmp_path: Path, cache_dir: Path
) -> None:
    """Never fail a build: the package moved, so the launcher starts again with site,
    which finds the copy pytest's own interpreter has installed."""
    site_dir, script = fake_install(tmp_path, "venv")
    assert write_launcher(site_dir, tmp_path).returncode == 0
    shutil.rmtree(site_dir / "buildcache")
    normal = run([sys.executable, "-c", "import buildcache; print(buildcache.__version__)"])
    if normal.returncode != 0:
        pytest.skip("buildcache is not installed for this interpreter (run `make dev`)")
    version = run([script, "--version"])
    assert version.stdout == f"buildcache {normal.stdout.strip()}\n", version.stderr
    wrapped = run([script, "/bin/echo", "-vV"])
    assert (wrapped.returncode, wrapped.stdout) == (0, "-vV\n"), wrapped.stderr


def test_the_cli_gets_site_packages_back(tmp_path: Path, cache_dir: Path) -> None:
    """Under the launcher a command typed by a user runs with site, as from pip's script."""
    code = (
        f"import sys; sys.path.append({str(PACKAGE.parent)!r}); "
        "from buildcache.main import main; "
        "code = main(['buildcache', 'config', '--json']); "
        "print('site' in sys.modules, code, file=sys.stderr)"
    )
    result = run([sys.executable, "-I", "-S", "-c", code])
    assert result.stderr.strip().endswith("True 0"), result.stderr


def test_it_leaves_alone_a_file_that_is_not_pips_script(tmp_path: Path) -> None:
    site_dir, script = fake_install(tmp_path, "venv")
    script.write_text('#!/bin/sh\nexec something-else "$@"\n')
    result = write_launcher(site_dir, tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("buildcache: kept pip's script")
    assert script.read_text() == '#!/bin/sh\nexec something-else "$@"\n'


@pytest.mark.parametrize(
    "first_line",
    [
        "#!/bin/sh",  # pip's trampoline for a path too long for #! or with spaces
        "#!python",
        f"#!{sys.executable}" + "x" * 200,
        "import sys",
    ],
)
def test_it_refuses_a_first_line_it_cannot_extend(first_line: str) -> None:
    current = pip_script(sys.executable).replace(f"#!{sys.executable}", first_line)
    with pytest.raises(launcher.LauncherError):
        launcher.launcher_text(current, ["/x"])


def test_dependencies_directories_follow_the_package(tmp_path: Path) -> None:
    """A runtime dependency installed elsewhere (a --user install over a system package)
    is put on the path too: -S would otherwise hide it."""
    site_dir, script = fake_install(tmp_path, "user")
    metadata = site_dir / "buildcache-0.1.0.dist-info" / "METADATA"
    metadata.write_text(
        metadata.read_text()
        + "Requires-Dist: somedep>=1.0\nRequires-Dist: pytest>=7; extra == 'test'\n"
    )
    elsewhere = tmp_path / "usr" / "lib" / "python3" / "dist-packages"
    (elsewhere / "somedep-1.0.dist-info").mkdir(parents=True)
    (elsewhere / "somedep-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: somedep\nVersion: 1.0\n"
    )
    code = (
        f"import sys; sys.path[0:0] = [{str(site_dir)!r}, {str(elsewhere)!r}]; "
        "from buildcache.launcher import main; sys.exit(main(['--no-client']))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.startswith("buildcache: wrote"), (result.stdout, result.stderr)
    assert repr([str(site_dir), str(elsewhere)]) in script.read_text()


def test_the_launch_client_replaces_pips_script_and_goes_back_on_request(
    tmp_path: Path, cache_dir: Path
) -> None:
    """Where cc can build it, the client; `--no-client` puts the Python launcher back."""
    from buildcache.launch import control
    from buildcache.launch.build import client_interpreter

    site_dir, script = fake_install(tmp_path, "venv")
    written = write_launcher(site_dir, tmp_path, client=True)
    assert written.stdout.startswith("buildcache: wrote the launch client"), written
    binary = script.read_bytes()
    assert client_interpreter(binary) == sys.executable
    runtime = Path(tempfile.mkdtemp(prefix="bl", dir="/tmp"))
    try:
        env = {"XDG_RUNTIME_DIR": str(runtime)}
        assert run([script, "--version"], **env).stdout == f"buildcache {FAKE_VERSION}\n"
        for _ in range(3):  # the ordinary way first, then through the server it started
            wrapped = run([script, "/bin/echo", "-vV"], **env)
            assert (wrapped.returncode, wrapped.stdout) == (0, "-vV\n"), wrapped.stderr
            time.sleep(0.3)
        servers = control.running_servers(str(runtime / "buildcache"))
        assert len(servers) == 1, servers
    finally:
        control.stop_servers(str(runtime / "buildcache"))
        shutil.rmtree(runtime, ignore_errors=True)

    again = write_launcher(site_dir, tmp_path, client=True)
    assert again.stdout.startswith("buildcache: unchanged"), again.stdout
    assert script.read_bytes() == binary

    back = write_launcher(site_dir, tmp_path)
    assert back.stdout.startswith("buildcache: wrote the fast launcher"), back.stdout
    assert script.read_text().splitlines()[0] == f"#!{sys.executable} -IS"

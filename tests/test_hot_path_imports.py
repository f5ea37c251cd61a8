"""The installed command's imports on the wrapper's hot path, measured, not assumed.

Every rustc call pays for every module it imports (~0.1 ms each, far more for
typing, subprocess or OpenSSL). These run real wrapper calls through the installed
`buildcache`, started exactly as its #! line starts it plus `-X importtime`, and
compare what was imported with what the interpreter imports on its own. Growing
the hot path means adding to ALLOWED here, on purpose, with the cost measured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

# Standard-library modules the hot path may import beyond the interpreter's own
# start-up, by top-level name: os and what it pulls in, the locks, and SHA-256
# (Python's own for small inputs, OpenSSL's only past a budget: cache/digests.py;
# importtime also lists the one of _sha2/_sha256 that this Python lacks).
ALLOWED = frozenset(
    {
        "__future__",
        "_collections_abc",
        "_stat",
        "stat",
        "errno",
        "fcntl",
        "genericpath",
        "posixpath",
        "os",
        "marshal",
        "time",
        "_sha2",
        "_sha256",
        "_hashlib",
        "buildcache",
        # A hit decompresses its entry: cache/compression.py loads zstandard's C
        # extension by file through importlib.machinery (about 0.7 ms with warnings,
        # against 8.6 ms for `import zstandard`).
        "importlib",
        "warnings",
    }
)
# Named in the failure message when one creeps in: each costs milliseconds a call
# (typing ~10, subprocess ~8, site ~2 to ~40 with .pth files), or belongs to the CLI.
NEVER = frozenset({"typing", "subprocess", "argparse", "json", "re", "threading", "site"})


def installed_command() -> tuple[list[str], list[str]]:
    """(the interpreter and its flags, what follows them to run a call) as the installed
    command starts a call in a Python of its own: the launch client's fallback (and
    first call) `python -IS -c BOOT`, or the Python launcher's #! line."""
    from buildcache.launch.build import BOOT_TEMPLATE, client_interpreter

    script = shutil.which("buildcache")
    assert script is not None, "no buildcache on PATH (run `make dev`)"
    data = Path(script).read_bytes()
    interpreter = client_interpreter(data)
    if interpreter is not None:
        package = subprocess.run(
            [interpreter, "-I", "-c", "import buildcache; print(buildcache.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        site_dir = os.path.dirname(os.path.dirname(package))
        return [interpreter, "-IS"], ["-c", BOOT_TEMPLATE.format(paths=[site_dir])]
    first_line = data.decode().splitlines()[0]
    assert first_line.startswith("#!/"), first_line
    return first_line[2:].split(), [script]


def traced(command: list[str], cwd: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run command (the installed command's arguments) under -X importtime."""
    interpreter, start = installed_command()
    argv = [interpreter[0], "-X", "importtime", *interpreter[1:], *start, *command]
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    return modules_of(result.stderr), result


def modules_of(importtime: str) -> set[str]:
    """Top-level names of the modules `-X importtime` reports (tried ones included)."""
    names = set()
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line and "[us]" not in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def baseline(cwd: Path) -> set[str]:
    """What the interpreter imports by itself, started as the script starts it."""
    interpreter, _ = installed_command()
    argv = [interpreter[0], "-X", "importtime", *interpreter[1:], "-c", "pass"]
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
    return modules_of(result.stderr)


def assert_lean(modules: set[str], cwd: Path) -> None:
    extra = modules - baseline(cwd)
    assert not extra & NEVER, f"the hot path imports {sorted(extra & NEVER)}"
    assert extra <= ALLOWED, f"the hot path imports more than before: {sorted(extra - ALLOWED)}"


def test_a_call_that_compiles_nothing_imports_only_the_allowed_modules(
    tmp_path: Path, cache_dir: Path
) -> None:
    """cargo's `rustc -vV` probe: the call is counted, then the compiler is exec'd."""
    modules, result = traced(["/bin/echo", "-vV"], tmp_path)
    assert (result.returncode, result.stdout) == (0, "-vV\n"), result.stderr
    assert "buildcache" in modules
    assert_lean(modules, tmp_path)
    assert "_hashlib" not in modules, "a call that hashes nothing loaded OpenSSL (~1.7 ms)"
    # Nor the store, the remote tier or the per-crate times (wrapper/cached_compile.py).
    for module in ("buildcache.cache.store", "buildcache.wrapper.remote_calls", "crate_times"):
        assert module not in result.stderr, f"a call that compiles nothing imported {module}"


def real_rustc() -> str:
    """The toolchain's rustc, as cargo run through rustup calls it. Through rustup's
    proxy the wrapper asks the compiler for its version on every call (the proxy may
    pick another toolchain), which a hit does not otherwise do."""
    if shutil.which("rustc") is None:
        pytest.skip("no rustc on PATH")
    if shutil.which("rustup"):
        found = subprocess.run(["rustup", "which", "rustc"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return str(shutil.which("rustc"))


def write_before_the_compile(source: Path, text: str) -> None:
    """A source last changed before the compile starts, or the miss is not stored
    (miss.py: a source whose ctime is at or after the compile's start may not be what
    rustc read). An old mtime is not enough: setting it moves the ctime to now, and the
    compile may start within the same tick of the coarse clock file times come from;
    so past that tick too."""
    source.write_text(text)
    an_hour_ago = time.time() - 3600
    os.utime(source, (an_hour_ago, an_hour_ago))
    time.sleep(0.05)


@pytest.mark.cargo
def test_a_cache_hit_imports_only_the_allowed_modules(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rustc = real_rustc()
    source = tmp_path / "lib.rs"
    write_before_the_compile(source, "pub fn answer() -> u32 { 42 }\n")
    (tmp_path / "out").mkdir()  # cargo makes it before it runs rustc
    log = tmp_path / "calls.log"
    monkeypatch.setenv("BUILDCACHE_LOG", str(log))
    args = [
        rustc,
        "--crate-name",
        "probe",
        "--edition",
        "2021",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "-C",
        "debuginfo=2",
        "--out-dir",
        str(tmp_path / "out"),
        "lib.rs",
    ]
    miss = subprocess.run(["buildcache", *args], cwd=tmp_path, capture_output=True, text=True)
    assert miss.returncode == 0, miss.stderr

    modules, hit = traced(args, tmp_path)
    assert hit.returncode == 0, hit.stderr
    results = [line.split("result=")[1].split("\t")[0] for line in log.read_text().splitlines()]
    assert results == ["miss", "hit"], log.read_text()
    assert (tmp_path / "out" / "libprobe.rlib").is_file()
    assert_lean(modules, tmp_path)


@pytest.mark.cargo
def test_a_hit_records_its_outputs_digests_without_hashing_them(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry keeps each output's SHA-256, so a hit records those for the dependents
    instead of hashing what it wrote: a crate whose outputs are past the builtin
    hasher's budget (cache/digests.py) used to load OpenSSL on every hit (~2 ms)."""
    from buildcache.cache import digests

    rustc = real_rustc()
    types = "".join(
        f"#[derive(Debug, Clone, PartialEq, Default)]\npub struct Item{n} {{ pub id: u64, "
        f"pub name: String, pub tags: Vec<String> }}\n"
        f'impl Item{n} {{ pub fn describe(&self) -> String {{ format!("{{:?}}", self) }} }}\n'
        for n in range(16)
    )
    source = tmp_path / "lib.rs"
    write_before_the_compile(source, types)
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "calls.log"
    monkeypatch.setenv("BUILDCACHE_LOG", str(log))
    args = [
        rustc, "--crate-name", "big", "--edition", "2021", "--crate-type", "lib",
        "--emit=dep-info,metadata,link", "-C", "debuginfo=2", "--out-dir", str(out), "lib.rs",
    ]  # fmt: skip
    miss = subprocess.run(["buildcache", *args], cwd=tmp_path, capture_output=True, text=True)
    assert miss.returncode == 0, miss.stderr
    outputs = sum(path.stat().st_size for path in out.iterdir())
    assert outputs > digests.BUILTIN_BUDGET, "the probe is too small to mean anything"

    modules, hit = traced(args, tmp_path)
    assert hit.returncode == 0, hit.stderr
    results = [line.split("result=")[1].split("\t")[0] for line in log.read_text().splitlines()]
    assert results == ["miss", "hit"], log.read_text()
    assert "_hashlib" not in modules, "the hit hashed its outputs (OpenSSL was loaded)"
    # It recorded a digest, and it is what a dependent would compute itself.
    from buildcache.cache import file_digests

    rlib = str(out / "libbig.rlib")
    name = digests.text_digest("file", rlib, file_digests.stamp(os.stat(rlib)))
    assert file_digests._recall(str(cache_dir), name) == digests.file_digest(rlib)

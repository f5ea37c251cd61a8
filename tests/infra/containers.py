"""Helpers for the container tests: a container handle, tar archives, ansible output."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("BASE_IMAGE", "buildcache/base:bookworm")
# The base image with systemd installed (tests/infra/conftest.py builds it).
SYSTEMD_IMAGE = os.environ.get("SYSTEMD_TEST_IMAGE", "buildcache/base-systemd:bookworm")
WHEELHOUSE = REPO / ".cache" / "wheelhouse"
# The shared target dir as root provisions it; a named volume is mounted there.
ROOT_TARGET_DIR = "/var/cache/cargo-target"


@dataclass
class Run:
    exit_code: int
    output: str


@dataclass
class Container:
    """A running container of the base image with a copy of the repository."""

    raw: object  # docker.models.containers.Container
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.raw.id  # type: ignore[attr-defined,no-any-return]

    def exec(self, command: str, *, user: str = "root", workdir: str = "/") -> Run:
        """Run a shell command; stdout and stderr together, as a person sees them."""
        exit_code, output = self.raw.exec_run(  # type: ignore[attr-defined]
            ["bash", "-c", command], user=user, workdir=workdir, demux=False
        )
        return Run(exit_code, output.decode("utf-8", "replace"))

    def check(self, command: str, **kwargs: str) -> str:
        run = self.exec(command, **kwargs)
        assert run.exit_code == 0, f"`{command}` failed ({run.exit_code}):\n{run.output}"
        return run.output

    def put(self, directory: str, archive: bytes) -> None:
        self.check(f"mkdir -p {directory}")
        assert self.raw.put_archive(directory, archive)  # type: ignore[attr-defined]

    def testinfra_host(self, user: str | None = None):  # type: ignore[no-untyped-def]
        import testinfra

        return testinfra.get_host(f"docker://{user + '@' if user else ''}{self.id}")


def recap_changed(output: str) -> int:
    """The `changed=N` count of ansible's PLAY RECAP."""
    found = re.findall(r"^localhost\s*:.*\bchanged=(\d+)", output, flags=re.MULTILINE)
    assert found, f"no PLAY RECAP in the output:\n{output[-3000:]}"
    return int(found[-1])


def tar_of(files: dict[str, Path | bytes], *, uid: int = 0, gid: int = 0) -> bytes:
    """An uncompressed tar of {archive name: file on disk or contents}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, source in sorted(files.items()):
            data = source.read_bytes() if isinstance(source, Path) else source
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid, info.gid = uid, gid
            info.mode = 0o755 if isinstance(source, Path) and os.access(source, os.X_OK) else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def repo_files() -> dict[str, Path | bytes]:
    """The files of this checkout (tracked or not ignored) plus the wheelhouse."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    files: dict[str, Path | bytes] = {
        f"src/{name}": REPO / name for name in listed if name and (REPO / name).is_file()
    }
    for wheel in WHEELHOUSE.glob("*.whl"):
        files[f"src/.cache/wheelhouse/{wheel.name}"] = wheel
    return files

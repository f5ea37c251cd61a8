"""Was every path rustc read resolved then as it is now? (see miss.py)

Hashing a source after the compile is only sound if the path still leads to the file
rustc opened. The final file's ctime says whether *it* changed, but not whether the
path now leads elsewhere: a symlink on the path retargeted (`ln -sfn`), or a directory
on it swapped by renames (`mv gen gen.old && mv gen.new gen`), leaves every file's
ctime as it was. So each path is resolved here one component at a time, following
symlinks by hand, and a component put in place after rustc started refuses the store.

On Linux, whatever puts an inode at a name (create, rename, link, symlink) sets that
inode's ctime, and changing a directory's entries sets its mtime and ctime to the same
instant. A component is therefore suspect when
- it is a symlink or a file with ctime or mtime at or after the start;
- it is a directory whose ctime is at or after the start, unless that ctime is only the
  trace of its entries changing (mtime == ctime) *and* its parent's entries did not
  change (parent mtime before the start): a directory renamed or created in place
  always changes its parent. Without that exception, any file created in /tmp or in
  the home directory while rustc ran would make every path through them suspect.

Relative paths resolve from rustc's working directory, which is this process's: the
caller checks that `cwd` still names it, and the directories above it do not matter.
"""

from __future__ import annotations

import os
import stat

# The kernel's limit on symlinks followed in one lookup (ELOOP).
MAX_SYMLINK_HOPS = 40


class PathChanged(Exception):
    """A path may not lead where it did when rustc opened it."""


class PathChecker:
    """Resolves and checks paths, remembering each directory it has checked, so the
    dozens of sources of a crate cost one lstat per distinct component."""

    __slots__ = ("started_ns", "cwd", "_real", "_mtime")

    def __init__(self, started_ns: int, cwd: str) -> None:
        self.started_ns = started_ns
        self.cwd = cwd
        self._real: dict[str, str] = {}  # a checked path as named -> the real path
        self._mtime: dict[str, int] = {}  # a real directory -> its mtime

    def check(self, path: str) -> None:
        """Raise PathChanged when a component of path (absolute, or relative to cwd)
        may have been put in place after the start."""
        if path.startswith("/"):
            self._resolve("/", path, 0)
        else:
            self._resolve(self.cwd, path, 0)

    def _resolve(self, base: str, path: str, hops: int) -> str:
        current = base  # a real directory, checked (or trusted: "/" and the cwd)
        for name in path.split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                current = os.path.dirname(current)  # current is real: ".." is lexical
                continue
            named = os.path.join(current, name)
            real = self._real.get(named)
            if real is None:
                real = self._check_component(current, named, hops)
                self._real[named] = real
            current = real
        return current

    def _check_component(self, parent: str, named: str, hops: int) -> str:
        try:
            info = os.lstat(named)
        except OSError:
            raise PathChanged(f"{named} vanished") from None
        ctime, mtime, start = info.st_ctime_ns, info.st_mtime_ns, self.started_ns
        if stat.S_ISDIR(info.st_mode):
            self._mtime[named] = mtime
            if ctime >= start and (mtime != ctime or self._mtime_of(parent) >= start):
                raise PathChanged(f"directory {named} was moved or changed while rustc ran")
            return named
        if max(ctime, mtime) >= start:
            raise PathChanged(f"{named} was replaced while rustc ran")
        if not stat.S_ISLNK(info.st_mode):
            return named
        if hops >= MAX_SYMLINK_HOPS:
            raise PathChanged(f"too many symlinks at {named}")
        try:
            target = os.readlink(named)
        except OSError:
            raise PathChanged(f"{named} vanished") from None
        return self._resolve("/" if target.startswith("/") else parent, target, hops + 1)

    def _mtime_of(self, directory: str) -> int:
        if directory not in self._mtime:
            try:
                self._mtime[directory] = os.lstat(directory).st_mtime_ns
            except OSError:
                raise PathChanged(f"{directory} vanished") from None
        return self._mtime[directory]

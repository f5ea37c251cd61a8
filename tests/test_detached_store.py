"""The detached store (buildcache/wrapper/detached_store.py) and the staging area it
shares with lookups (buildcache/cache/staging.py): snapshots that a later compile
cannot change under the store, a child that leaves cargo's pipes alone, waiting for
a store in flight, and the fallback to storing at once."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from buildcache.cache import staging
from buildcache.cache.digests import sha256, text_digest
from buildcache.cache.file_digests import _recall, content_digest, stamp
from buildcache.wrapper import detached_store
from buildcache.wrapper.detached_store import take_snapshot

BASE_KEY = "ab" * 32


def outputs(tmp_path: Path, **files: bytes) -> Path:
    (tmp_path / "cache").mkdir(exist_ok=True)  # the wrapper claims it before it stores
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out


def snapshot_of(cache: Path, out: Path, names: list[str]):  # type: ignore[no-untyped-def]
    snapshot = take_snapshot(str(cache), str(out), names, BASE_KEY)
    assert snapshot is not None
    return snapshot


def left_in_staging(cache: str) -> list[str]:
    return sorted(os.listdir(staging.staging_dir(cache)))


def record_of(cache: Path, path: Path, info: os.stat_result) -> str | None:
    """The digest the cache remembers for path under the stamp info gives."""
    return _recall(str(cache), text_digest("file", str(path), stamp(info)))


def test_a_snapshot_keeps_what_rustc_wrote_when_the_output_is_replaced(tmp_path: Path) -> None:
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    snapshot = snapshot_of(tmp_path / "cache", out, ["libx.rlib"])
    # The next compile of the crate writes a new file over the name (rustc, ld, lld)...
    (out / "new").write_bytes(b"second build, other code")
    os.replace(out / "new", out / "libx.rlib")
    assert snapshot.read("libx.rlib")[0] == b"first build"
    # ...or, a tool that does, rewrites it in place.
    with open(out / "libx.rlib", "r+b") as handle:
        handle.write(b"SECOND")
    assert snapshot.read("libx.rlib")[0] == b"first build"
    snapshot.discard()


def test_a_snapshot_leaves_the_outputs_stamps_alone(tmp_path: Path) -> None:
    """Dependents find the digest of an extern by its stamp, ctime included: neither
    taking nor discarding a snapshot may move it (a hard link would)."""
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    before = (out / "libx.rlib").stat()
    snapshot = snapshot_of(tmp_path / "cache", out, ["libx.rlib"])
    snapshot.discard()
    after = (out / "libx.rlib").stat()
    assert (after.st_ino, after.st_ctime_ns, after.st_nlink) == (
        before.st_ino,
        before.st_ctime_ns,
        before.st_nlink,
    )


def test_reading_a_copy_records_its_digest_for_the_output(tmp_path: Path) -> None:
    """The child hashes the copy for the entry, and that digest becomes the output's
    record: its dependents then need not read it (nor did the wrapper, before it
    returned)."""
    cache = tmp_path / "cache"
    out = outputs(tmp_path, **{"libx.rlib": b"what rustc wrote"})
    info = (out / "libx.rlib").stat()
    snapshot = snapshot_of(cache, out, ["libx.rlib"])
    assert record_of(cache, out / "libx.rlib", info) is None
    data, read_digest = snapshot.read("libx.rlib")
    assert data == b"what rustc wrote"
    digest = sha256(b"what rustc wrote").hexdigest()
    assert read_digest == digest
    assert record_of(cache, out / "libx.rlib", info) == digest
    snapshot.discard()


def test_a_relative_out_dir_is_recorded_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detached child runs from "/": the record must name the output where the
    wrapper found it, not a path under "/"."""
    cache = tmp_path / "cache"
    out = outputs(tmp_path, **{"libx.rlib": b"what rustc wrote"})
    info = (out / "libx.rlib").stat()
    monkeypatch.chdir(tmp_path)
    snapshot = take_snapshot(str(cache), "out", ["libx.rlib"], BASE_KEY)
    assert snapshot is not None
    monkeypatch.chdir("/")
    snapshot.read("libx.rlib")
    snapshot.discard()
    assert record_of(cache, out / "libx.rlib", info) == sha256(b"what rustc wrote").hexdigest()


def test_an_output_replaced_after_its_copy_gets_no_record_of_the_copy(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    snapshot = snapshot_of(cache, out, ["libx.rlib"])
    (out / "new").write_bytes(b"second build")
    os.replace(out / "new", out / "libx.rlib")
    assert snapshot.read("libx.rlib")[0] == b"first build"
    snapshot.discard()
    # The record is under the first file's stamp: the second is hashed for itself.
    assert content_digest(str(cache), str(out / "libx.rlib")) == sha256(b"second build").hexdigest()


def held_snapshot_of(cache: Path, out: Path, names: list[str]):  # type: ignore[no-untyped-def]
    snapshot = take_snapshot(str(cache), str(out), names, BASE_KEY, frozenset(names))
    assert snapshot is not None
    return snapshot


def next_tick() -> None:
    """Past the coarse clock tick file times come from: a change now moves them."""
    time.sleep(0.05)


def test_a_held_output_is_read_from_the_output_itself_and_its_digest_recorded(
    tmp_path: Path,
) -> None:
    """A dependency's outputs, which cargo leaves alone, are not copied while cargo
    waits: the store reads them through descriptors opened before the answer."""
    cache = tmp_path / "cache"
    out = outputs(tmp_path, **{"libx.rlib": b"what rustc wrote", "libx.rmeta": b""})
    info = (out / "libx.rlib").stat()
    snapshot = held_snapshot_of(cache, out, ["libx.rlib", "libx.rmeta"])
    assert left_in_staging(str(cache)) == [f"{BASE_KEY}.lock"]  # no copies, no dir
    assert len(snapshot.fds()) == 3  # the lock and both outputs
    data, digest = snapshot.read("libx.rlib")
    assert data == b"what rustc wrote" and digest == sha256(data).hexdigest()
    assert record_of(cache, out / "libx.rlib", info) == digest
    assert snapshot.read("libx.rmeta")[0] == b""
    snapshot.discard()
    assert snapshot.fds() == [] and left_in_staging(str(cache)) == []


def test_a_held_output_written_in_place_after_the_answer_is_not_stored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    info = (out / "libx.rlib").stat()
    snapshot = held_snapshot_of(cache, out, ["libx.rlib"])
    next_tick()
    with open(out / "libx.rlib", "r+b") as handle:
        handle.write(b"SECOND")  # same size: only the stamp tells
    with pytest.raises(OSError, match="changed after rustc wrote it"):
        snapshot.read("libx.rlib")
    snapshot.discard()
    assert record_of(cache, out / "libx.rlib", info) is None


@pytest.mark.parametrize("change", ["append", "truncate", "hard_link", "chmod", "remove"])
def test_a_held_output_whose_stamp_moved_is_not_stored(tmp_path: Path, change: str) -> None:
    """Whatever happened to the file since it was opened: a writer (mtime and ctime, or
    the size), or what moves only its ctime (the hard link cargo makes when it uplifts
    an output, a chmod, a removal). An entry lost, never one that may be wrong."""
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    path = out / "libx.rlib"
    snapshot = held_snapshot_of(tmp_path / "cache", out, ["libx.rlib"])
    next_tick()
    if change == "append":
        with open(path, "ab") as handle:
            handle.write(b" and more")
    elif change == "truncate":
        os.truncate(path, 5)
    elif change == "hard_link":
        os.link(path, out / "uplifted.rlib")
    elif change == "chmod":
        os.chmod(path, 0o600)
    else:
        os.unlink(path)
    with pytest.raises(OSError, match="changed after rustc wrote it"):
        snapshot.read("libx.rlib")
    snapshot.discard()


def test_a_held_output_replaced_by_a_rebuild_is_never_read_as_the_new_one(tmp_path: Path) -> None:
    """The next compile of the crate renames a new file over the name: the descriptor
    still reads the first build's file, or the store finds it changed (the kernel moves
    the ctime of the file a rename replaces); never the second build's bytes."""
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    snapshot = held_snapshot_of(tmp_path / "cache", out, ["libx.rlib"])
    next_tick()
    (out / "new").write_bytes(b"second build, other code")
    os.replace(out / "new", out / "libx.rlib")
    try:
        data = snapshot.read("libx.rlib")[0]
    except OSError:
        data = None
    assert data in (b"first build", None)
    snapshot.discard()


@pytest.mark.parametrize("held", [True, False])
def test_an_output_that_is_not_a_regular_file_is_no_snapshot(tmp_path: Path, held: bool) -> None:
    """A FIFO or a symlink in an output's place (put there after rustc wrote it): no
    snapshot, and no open that waits for a FIFO's writer."""
    cache = tmp_path / "cache"
    out = outputs(tmp_path)
    os.mkfifo(out / "libx.rlib")
    (out / "liby.rlib").symlink_to(out / "libx.rlib")
    for name in ("libx.rlib", "liby.rlib"):
        names = frozenset({name}) if held else frozenset()
        assert take_snapshot(str(cache), str(out), [name], BASE_KEY, names) is None
    assert left_in_staging(str(cache)) == []  # the lock released and removed


@pytest.mark.parametrize("change", ["append", "rewrite_later"])
@pytest.mark.parametrize("copy", ["sendfile", "read"])
def test_an_output_that_changes_while_it_is_copied_is_not_snapshotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str, copy: str
) -> None:
    """Another writer between the first and the last byte copied: the copy may be torn,
    so there is no snapshot (the wrapper then stores at once, from a read it checks).
    Whichever way the copy is made: by sendfile, or by reads where it cannot be used."""
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    real_sendfile, real_read = os.sendfile, os.read
    calls = []

    def written_meanwhile() -> None:
        calls.append(1)
        if len(calls) > 1:
            return
        if change == "append":
            with open(out / "libx.rlib", "ab") as handle:
                handle.write(b" and more")
        else:  # same size, in a later tick of the clock the timestamps come from
            time.sleep(0.05)
            with open(out / "libx.rlib", "r+b") as handle:
                handle.write(b"FIRST")

    def send_while_written(out_fd: int, in_fd: int, offset: None, count: int) -> int:
        if copy == "read":
            raise OSError(errno.EINVAL, "this filesystem cannot splice")
        sent = real_sendfile(out_fd, in_fd, offset, min(count, 5))
        written_meanwhile()
        return sent

    def read_while_written(fd: int, count: int) -> bytes:
        data = real_read(fd, min(count, 5))
        written_meanwhile()
        return data

    monkeypatch.setattr(detached_store.os, "sendfile", send_while_written)
    monkeypatch.setattr(detached_store.os, "read", read_while_written)
    assert take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY) is None
    assert os.listdir(staging.staging_dir(str(tmp_path / "cache"))) == []


def test_the_copy_is_not_offloaded_to_the_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry and the output's digest record are made from the copy alone, so it is
    made through the kernel's generic read and write paths (sendfile's splice), never
    handed to the filesystem: offloaded copies (copy_file_range, reflinks) are where
    filesystems have corrupted data (OpenZFS 2.2.0's block cloning zeroed recently
    written files). The wrapper used to catch such a copy by hashing the output too."""

    def offloaded(*args: object) -> int:
        raise AssertionError("an offloaded copy")

    monkeypatch.setattr(detached_store.os, "copy_file_range", offloaded)
    data = os.urandom((5 << 20) + 123)
    out = outputs(tmp_path, **{"libx.rlib": data})
    snapshot = snapshot_of(tmp_path / "cache", out, ["libx.rlib"])
    assert snapshot.read("libx.rlib") == (data, sha256(data).hexdigest())
    snapshot.discard()


@pytest.mark.parametrize("refusal", [errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM])
def test_where_sendfile_cannot_copy_the_copy_is_read_and_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    """A filesystem that cannot splice, or a sandbox that forbids the call, refuses
    before anything is copied: every miss would otherwise be stored while cargo waits."""

    def refused(*args: object) -> int:
        raise OSError(refusal, "cannot splice here")

    monkeypatch.setattr(detached_store.os, "sendfile", refused)
    data = os.urandom((3 << 20) + 123)  # several reads' worth, and a partial one
    out = outputs(tmp_path, **{"libx.rlib": data, "libx.rmeta": b""})
    snapshot = snapshot_of(tmp_path / "cache", out, ["libx.rlib", "libx.rmeta"])
    assert snapshot.read("libx.rlib") == (data, sha256(data).hexdigest())
    assert snapshot.read("libx.rmeta")[0] == b""
    snapshot.discard()


def test_a_copy_that_fails_midway_is_no_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error after some bytes went (EIO, ENOSPC) is not retried another way: the
    wrapper stores at once instead."""
    real_sendfile = os.sendfile
    sent: list[int] = []

    def failing(out_fd: int, in_fd: int, offset: None, count: int) -> int:
        if sent:
            raise OSError(errno.EINVAL, "failed midway")
        sent.append(real_sendfile(out_fd, in_fd, offset, 5))
        return sent[0]

    monkeypatch.setattr(detached_store.os, "sendfile", failing)
    out = outputs(tmp_path, **{"libx.rlib": b"first build"})
    assert take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY) is None
    assert os.listdir(staging.staging_dir(str(tmp_path / "cache"))) == []


def test_a_copy_that_cannot_be_mapped_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FUSE with direct I/O refuses mappings (ENODEV): the store reads the copy instead
    of failing every time."""
    import mmap

    def refused(*args: object) -> object:
        raise OSError(errno.ENODEV, "no mappings here")

    monkeypatch.setattr(mmap, "mmap", refused)
    out = outputs(tmp_path, **{"libx.rlib": b"first build", "libx.rmeta": b""})
    snapshot = snapshot_of(tmp_path / "cache", out, ["libx.rlib", "libx.rmeta"])
    assert snapshot.read("libx.rlib")[0] == b"first build"
    assert snapshot.read("libx.rmeta")[0] == b""
    snapshot.discard()


def test_a_symlinked_output_is_not_snapshotted(tmp_path: Path) -> None:
    out = outputs(tmp_path, **{"elsewhere": b"data"})
    (out / "libx.rlib").symlink_to(out / "elsewhere")
    assert take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY) is None
    assert not os.listdir(staging.staging_dir(str(tmp_path / "cache")))


def test_a_snapshot_across_filesystems(tmp_path: Path) -> None:
    """The cache on another filesystem than the target dir (a devcontainer's volume)."""
    other = Path("/dev/shm")
    assert other.is_dir() and other.stat().st_dev != tmp_path.stat().st_dev
    cache = other / f"buildcache-test-{os.getpid()}"
    cache.mkdir()
    try:
        data = os.urandom(3 << 20)
        out = outputs(tmp_path, **{"libx.rlib": data})
        (out / "libx.rlib").chmod(0o755)
        snapshot = snapshot_of(cache, out, ["libx.rlib"])
        assert snapshot.read("libx.rlib")[0] == data
        assert snapshot.mode("libx.rlib") == 0o755
        snapshot.discard()
        assert not os.listdir(staging.staging_dir(str(cache)))  # nothing left behind
    finally:
        subprocess.run(["rm", "-rf", str(cache)], check=True)


def test_one_store_per_key_at_a_time(tmp_path: Path) -> None:
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    first = take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY)
    assert first is not None
    assert take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY) is None
    first.discard()
    again = take_snapshot(str(tmp_path / "cache"), str(out), ["libx.rlib"], BASE_KEY)
    assert again is not None
    again.discard()
    assert os.listdir(staging.staging_dir(str(tmp_path / "cache"))) == []


CHILD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from buildcache.wrapper.detached_store import run_detached, take_snapshot

    cache, out, marker = sys.argv[1:4]
    snapshot = take_snapshot(cache, out, ["libx.rlib"], "ab" * 32)
    assert snapshot is not None
    def job():
        time.sleep(3)
        Path(marker).write_text("stored")
    assert run_detached(snapshot, job)
    print("parent done", flush=True)
    """
)


def test_the_child_leaves_cargos_pipes_and_holds_the_lock_until_done(tmp_path: Path) -> None:
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    started = time.monotonic()
    # capture_output waits for EOF on both pipes, as cargo does.
    parent = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, str(cache), str(out), str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    returned = time.monotonic() - started
    assert parent.returncode == 0, parent.stderr
    assert parent.stdout == "parent done\n"
    assert not marker.exists(), f"the parent waited for its child ({returned:.1f} s)"
    assert staging.wait_for_store(str(cache), BASE_KEY), "no store in flight was seen"
    assert marker.read_text() == "stored"
    assert os.listdir(staging.staging_dir(str(cache))) == []  # links and lock removed


SCHEDULING_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from pathlib import Path
    from buildcache.wrapper.detached_store import run_detached, take_snapshot

    cache, out, report = sys.argv[1:4]

    def where():
        try:
            with open("/proc/self/autogroup") as handle:
                autogroup = handle.read().split()[0]
        except OSError:
            autogroup = None
        return {
            "pid": os.getpid(),
            "session": os.getsid(0),
            "group": os.getpgrp(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "autogroup": autogroup,
            "sighup_ignored": signal.getsignal(signal.SIGHUP) == signal.SIG_IGN,
            "oom_score_adj": int(Path("/proc/self/oom_score_adj").read_text()),
        }

    snapshot = take_snapshot(cache, out, ["libx.rlib"], "ab" * 32)
    assert snapshot is not None
    Path(report + ".parent").write_text(json.dumps(where()))
    assert run_detached(snapshot, lambda: Path(report).write_text(json.dumps(where())))
    """
)


def test_the_child_leaves_the_callers_group_but_not_its_scheduling_group(tmp_path: Path) -> None:
    """Niceness counts only within a scheduling group, and Linux's autogroups make each
    session one: a store child in a session of its own competed with the compiles as
    one more compile, whatever its niceness. It must stay in its caller's session (and
    autogroup) at niceness 19, out of the caller's process group, which Ctrl-C and the
    launch client's forwarded signals reach; and first in line for the OOM killer."""
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    cache, report = tmp_path / "cache", tmp_path / "report"
    # The caller leads a group of its own in a session of its own, as the launch
    # server's child does.
    parent = subprocess.run(
        [sys.executable, "-c", SCHEDULING_SCRIPT, str(cache), str(out), str(report)],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert parent.returncode == 0, parent.stderr
    assert staging.wait_for_store(str(cache), BASE_KEY) or report.exists()
    caller = json.loads((tmp_path / "report.parent").read_text())
    child = json.loads(report.read_text())
    assert child["session"] == caller["session"]
    assert child["autogroup"] == caller["autogroup"]
    assert child["group"] == child["pid"] != caller["group"]
    assert child["nice"] == min(19, caller["nice"] + detached_store.CHILD_NICENESS)
    assert child["sighup_ignored"]
    # Out of memory, the kernel takes a store before a compile (the caller's stays).
    assert child["oom_score_adj"] == detached_store.OOM_SCORE_ADJ
    assert caller["oom_score_adj"] == int(Path("/proc/self/oom_score_adj").read_text())


HOLDER_SCRIPT = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def hold_lock(cache: Path, seconds: float) -> subprocess.Popen[str]:
    (cache / staging.STAGING_DIR).mkdir(parents=True, exist_ok=True)
    lock = staging.lock_path(str(cache), BASE_KEY)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, lock, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def test_a_lookup_waits_for_a_store_in_flight(tmp_path: Path) -> None:
    assert not staging.wait_for_store(str(tmp_path), BASE_KEY)  # none: no wait at all
    holder = hold_lock(tmp_path, 1.0)
    started = time.monotonic()
    assert staging.wait_for_store(str(tmp_path), BASE_KEY)
    assert time.monotonic() - started >= 0.5
    assert holder.wait(timeout=10) == 0


def test_a_killed_store_releases_its_waiters(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path, 600)
    assert not staging.wait_for_store(str(tmp_path), BASE_KEY, timeout=0.2)  # bounded
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert staging.wait_for_store(str(tmp_path), BASE_KEY, timeout=10)


def test_leftovers_of_dead_stores_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    root = Path(staging.staging_dir(str(tmp_path)))
    root.mkdir()
    dead_dir = root / f"{'cd' * 32}.1.aaaa"  # its store was killed: nobody holds its lock
    dead_dir.mkdir()
    (dead_dir / "libx.rlib").write_bytes(b"x" * 4096)
    live_dir = root / f"{BASE_KEY}.2.bbbb"  # its store is running
    live_dir.mkdir()
    old_lock = root / ("ef" * 32 + staging.LOCK_SUFFIX)
    old_lock.touch()
    an_hour_ago = time.time() - staging.STALE_SECONDS - 120
    os.utime(old_lock, (an_hour_ago, an_hour_ago))
    new_lock = root / ("12" * 32 + staging.LOCK_SUFFIX)  # created, not locked yet
    new_lock.touch()
    holder = hold_lock(tmp_path, 600)
    try:
        assert staging.remove_stale(str(tmp_path)) == 2
        assert sorted(os.listdir(root)) == sorted(
            [live_dir.name, BASE_KEY + staging.LOCK_SUFFIX, new_lock.name]
        )
    finally:
        holder.kill()
        holder.wait()


AFTER_ANSWER_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from buildcache.cache import staging
    from buildcache.wrapper import detached_store
    from buildcache.wrapper.detached_store import run_detached, take_snapshot

    cache, out, report = sys.argv[1:4]

    def no_fork():
        raise AssertionError("forked")

    os.fork = no_fork
    detached_store.AFTER_ANSWER[0] = []  # as a launch server's child sets it
    snapshot = take_snapshot(cache, out, ["libx.rlib"], "ab" * 32)
    assert snapshot is not None
    seen = {}

    def job():
        seen.update(
            nice=os.getpriority(os.PRIO_PROCESS, 0),
            oom_score_adj=int(Path("/proc/self/oom_score_adj").read_text()),
            cwd=os.getcwd(),
            forwarded_ignored=all(
                signal.getsignal(number) == signal.SIG_IGN
                for number in detached_store.FORWARDED_SIGNALS
            ),
            lock_held=staging._held(staging.lock_path(cache, "ab" * 32)),
        )

    assert run_detached(snapshot, job)
    seen["before_answer"] = dict(seen)  # nothing ran yet
    seen["kept_fds"] = len(detached_store.deferred_fds())
    detached_store.run_after_answer()
    seen["staging"] = os.listdir(staging.staging_dir(cache))
    Path(report).write_text(json.dumps(seen))
    """
)


def test_a_launch_servers_child_stores_after_its_answer_without_a_fork(tmp_path: Path) -> None:
    """The launch child exists for one call and is done once it answered: it stores the
    miss itself then, as a detached child would (niceness, OOM score, cwd), with the
    store's lock held until the store is done."""
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    cache, report = tmp_path / "cache", tmp_path / "report"
    ran = subprocess.run(
        [sys.executable, "-c", AFTER_ANSWER_SCRIPT, str(cache), str(out), str(report)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(report.read_text())
    assert seen["before_answer"] == {} and seen["kept_fds"] == 1  # the lock: the output is copied
    assert seen["nice"] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 19)
    assert seen["oom_score_adj"] == detached_store.OOM_SCORE_ADJ
    assert seen["cwd"] == "/" and seen["forwarded_ignored"] and seen["lock_held"]
    assert seen["staging"] == []  # the copies and the lock file gone
    assert not staging.wait_for_store(str(cache), BASE_KEY, timeout=0.1)  # released


FORK_DEFERRED_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from buildcache.wrapper import detached_store
    from buildcache.wrapper.detached_store import run_detached, take_snapshot

    cache, out, marker = sys.argv[1:4]
    detached_store.AFTER_ANSWER[0] = []
    snapshot = take_snapshot(cache, out, ["libx.rlib"], "ab" * 32)
    assert snapshot is not None
    parent = os.getpid()

    def job():
        time.sleep(2)
        Path(marker).write_text(str(os.getpid() != parent))

    assert run_detached(snapshot, job)
    detached_store.fork_deferred()  # as the launch child does without a /dev/null
    assert detached_store.AFTER_ANSWER[0] is None
    print("answered", flush=True)
    """
)


def test_a_kept_store_is_forked_after_all_when_the_call_cannot_let_go_of_cargos_pipes(
    tmp_path: Path,
) -> None:
    out = outputs(tmp_path, **{"libx.rlib": b"data"})
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    parent = subprocess.run(
        [sys.executable, "-c", FORK_DEFERRED_SCRIPT, str(cache), str(out), str(marker)],
        capture_output=True,  # waits for both pipes' ends, as cargo does
        text=True,
        timeout=60,
    )
    assert parent.returncode == 0, parent.stderr
    assert parent.stdout == "answered\n"
    assert not marker.exists(), "the caller's pipes waited for the store"
    assert staging.wait_for_store(str(cache), BASE_KEY), "no store in flight was seen"
    assert marker.read_text() == "True"  # stored by a child of its own

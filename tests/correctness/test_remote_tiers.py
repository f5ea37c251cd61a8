"""Remote tiers against real servers on loopback (docs/remote.md): Redis, nginx
(WebDAV) and s3s-fs (S3). What every tier must do runs over all three (`shared_server`);
what the helper does the same whatever the tier runs on Redis only.

Two "runners" are two cache dirs sharing one remote: what the first builds, the
second's cold-target build takes entirely from the remote, then from its own local
tier. A remote that is stopped (before or in the middle of a build), blackholed or
returns bit-flipped values costs the build nothing but time (bounded) and shows in
the counters; a read-only tier (all of them, or one marked `|read-only`) is read and
never written; a planted unsigned entry is never used when a signing key is required;
concurrent builds share one helper, and killing it mid-build loses no build. C/C++
objects that build scripts compile through cc-rs go through the remote as well.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Union

import pytest
from correctness_helpers import (
    GATE_CRATE,
    WORKSPACE_TOML,
    buildcache,
    c_workspace,
    cache_stats,
    cargo,
    clean_env,
    copy_checkout,
    gated_build,
    package_toml,
    program_result,
    write_files,
)
from remote_servers import Blackhole, NginxDav, RedisServer, S3sFs

pytestmark = pytest.mark.cargo

KEY = "0123456789abcdef-test-signing-key"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("remote-ws")
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/util/Cargo.toml": package_toml("util"),
            "crates/util/src/lib.rs": "pub fn answer() -> u32 { 6 * 7 }\n",
            **GATE_CRATE,
            "crates/app/Cargo.toml": package_toml("app", deps=("util", "gate")),
            "crates/app/src/main.rs": (
                'gate::gate!();\nfn main() { println!("answer {}", util::answer()); }\n'
            ),
        },
    )
    return root


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR per test (short: socket paths are limited), with every
    helper started in it stopped at the end."""
    path = Path(tempfile.mkdtemp(prefix="bc-rt-"))
    yield path
    env = clean_env(path / "home", XDG_RUNTIME_DIR=str(path))
    buildcache("helper", "stop", env=env)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


SERVERS = {"redis": RedisServer, "http": NginxDav, "s3": S3sFs}
Server = Union[RedisServer, NginxDav, S3sFs]


@pytest.fixture(params=sorted(SERVERS))
def shared_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """Each kind of tier in turn, for what every kind must do alike."""
    server = SERVERS[request.param](tmp_path / request.param)
    yield server
    server.stop()


def server_env(*servers: Server) -> dict[str, str]:
    """What the runners need to reach these servers besides their URLs (S3 credentials)."""
    return {name: value for server in servers for name, value in server.env.items()}


def runner(
    tmp_path: Path, name: str, runtime_dir: Path, remote: str, **extra: str
) -> dict[str, str]:
    """The environment of one CI runner: its own cache dir, the shared remote."""
    return clean_env(
        tmp_path / f"home-{name}",
        tmp_path / f"cache-{name}",
        BUILDCACHE_REMOTE=remote,
        XDG_RUNTIME_DIR=str(runtime_dir),
        **extra,
    )


def build_and_run(root: Path, env: dict[str, str], target: Path) -> str:
    """A cold-target build. Every runner builds in the same target dir path, as CI
    runners do: the key covers it where it can reach the output (CARGO_TARGET_DIR)."""
    target = target.parent / "target"
    shutil.rmtree(target, ignore_errors=True)
    env = {**env, "CARGO_TARGET_DIR": str(target)}
    cargo(root, "build", env=env)
    return program_result(target / "debug" / "app")


def stop_helpers(env: dict[str, str]) -> None:
    """Stop the helpers (waiting for their uploads) so the remote holds everything."""
    buildcache("helper", "stop", env=env, check=True)


def reference_output(workspace: Path, tmp_path: Path) -> str:
    env = clean_env(tmp_path / "home-ref", CARGO_TARGET_DIR=str(tmp_path / "target-ref"))
    cargo(workspace, "build", env=env, cached=False)
    output = program_result(tmp_path / "target-ref" / "debug" / "app")
    assert output == "answer 42\n"
    return output


def fill_remote(workspace: Path, tmp_path: Path, runtime_dir: Path, remote: str, **extra: str):  # type: ignore[no-untyped-def]
    first = runner(tmp_path, "first", runtime_dir, remote, **extra)
    output = build_and_run(workspace, first, tmp_path / "target-first")
    stop_helpers(first)
    stats = cache_stats(first)
    return output, stats


def test_a_second_runner_builds_entirely_from_the_remote_then_locally(
    workspace: Path, tmp_path: Path, runtime_dir: Path, shared_server: Server
) -> None:
    url, env = shared_server.url, server_env(shared_server)
    expected = reference_output(workspace, tmp_path)
    output, first = fill_remote(workspace, tmp_path, runtime_dir, url, **env)
    assert output == expected
    compiles = int(first["misses"])  # type: ignore[call-overload]
    assert compiles >= 3 and first["hits"] == 0
    assert first["remote"]["uploads"] == 2 * compiles  # type: ignore[index]
    assert len(shared_server.stored_names()) == 2 * compiles  # an entry and a manifest each

    # The same checkout path, as CI runners have (the key covers the working dir).
    second = runner(tmp_path, "second", runtime_dir, url, **env)
    checkout = workspace
    assert build_and_run(checkout, second, tmp_path / "target-2") == expected
    stats = cache_stats(second)
    assert (stats["hits"], stats["misses"], stats["remote_hits"]) == (compiles, 0, compiles)
    assert stats["time_saved_ms"] > 0  # a remote hit saves the compile as a local one does
    remote = stats["remote"]
    assert remote["bytes_down"] > 0 and remote["errors"] == remote["corrupt"] == 0  # type: ignore[index]
    assert remote["tiers"] == {url: {"hits": compiles}}  # type: ignore[index]

    # The remote hits were written back: the next cold build is all local.
    assert build_and_run(checkout, second, tmp_path / "target-3") == expected
    stats = cache_stats(second)
    assert (stats["hits"], stats["remote_hits"], stats["local_hits"]) == (
        2 * compiles,
        compiles,
        compiles,
    )


def test_hits_are_counted_per_tier_and_backfill_the_earlier_tier(
    workspace: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    """Tiers "near far": near is empty, far was filled by another runner. Every hit comes
    from far, counted under far's URL, and is written back to near as well."""
    expected = reference_output(workspace, tmp_path)
    _, first = fill_remote(workspace, tmp_path, runtime_dir, redis_server.url)
    compiles = int(first["misses"])  # type: ignore[call-overload]
    near = RedisServer(tmp_path / "redis-near")
    try:
        second = runner(tmp_path, "second", runtime_dir, f"{near.url} {redis_server.url}")
        assert build_and_run(workspace, second, tmp_path / "target-2") == expected
        stop_helpers(second)
        stats = cache_stats(second)
        assert stats["remote_hits"] == compiles
        tiers = stats["remote"]["tiers"]  # type: ignore[index]
        assert tiers == {near.url: {"hits": 0}, redis_server.url: {"hits": compiles}}, tiers
        assert len(near.stored_keys()) == 2 * compiles  # backfilled: an entry and a manifest each
        table = buildcache("stats", env=second, check=True).stdout
        assert f"from {redis_server.url}" in table and f"from {near.url}" in table, table
    finally:
        near.stop()


def test_a_read_only_runner_reads_and_writes_nothing(
    workspace: Path, tmp_path: Path, runtime_dir: Path, shared_server: Server
) -> None:
    env = server_env(shared_server)
    fill_remote(workspace, tmp_path, runtime_dir, shared_server.url, **env)
    names = shared_server.stored_names()
    reader = runner(
        tmp_path, "reader", runtime_dir, shared_server.url, BUILDCACHE_REMOTE_READ_ONLY="1", **env
    )
    checkout = workspace
    build_and_run(checkout, reader, tmp_path / "target-ro")
    assert cache_stats(reader)["misses"] == 0
    # A change: a miss, stored locally, never uploaded.
    source = checkout / "crates/util/src/lib.rs"
    original = source.read_text()
    source.write_text("pub fn answer() -> u32 { 43 }\n")
    try:
        assert build_and_run(checkout, reader, tmp_path / "target-ro") == "answer 43\n"
    finally:
        source.write_text(original)
    stop_helpers(reader)
    stats = cache_stats(reader)
    assert stats["misses"] >= 1 and stats["remote"]["uploads"] == 0  # type: ignore[index]
    assert shared_server.stored_names() == names


def test_a_tier_marked_read_only_is_read_and_never_written_while_the_others_are(
    workspace: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    """Tiers "redis http|read-only": CI filled http; this runner's hits come from http
    and are backfilled to redis, and its own compiles go to redis only."""
    expected = reference_output(workspace, tmp_path)
    nginx = NginxDav(tmp_path / "nginx")
    try:
        _, first = fill_remote(workspace, tmp_path, runtime_dir, nginx.url)
        compiles = int(first["misses"])  # type: ignore[call-overload]
        filled = nginx.stored_names()
        tiers = f"{redis_server.url} {nginx.url}|read-only"
        reader = runner(tmp_path, "reader", runtime_dir, tiers)
        assert build_and_run(workspace, reader, tmp_path / "target-ro") == expected
        source = workspace / "crates/util/src/lib.rs"
        original = source.read_text()
        source.write_text("pub fn answer() -> u32 { 43 }\n")
        try:
            assert build_and_run(workspace, reader, tmp_path / "target-ro") == "answer 43\n"
        finally:
            source.write_text(original)
        stop_helpers(reader)
        stats = cache_stats(reader)
        assert nginx.stored_names() == filled  # never written
        assert stats["remote"]["tiers"][f"{nginx.url}|read-only"] == {"hits": compiles}  # type: ignore[index]
        # Backfilled from http, plus what the changed crates compiled: on redis only.
        changed = int(stats["misses"])  # type: ignore[call-overload]
        assert changed >= 1
        assert stats["remote"]["uploads"] == 2 * (compiles + changed)  # type: ignore[index]
        assert set(filled) < set(redis_server.stored_names())
    finally:
        nginx.stop()


@pytest.mark.parametrize("failure", ["stopped", "blackhole", "bit-flipped"])
def test_a_failing_remote_costs_the_build_nothing_but_is_counted(
    workspace: Path,
    tmp_path: Path,
    runtime_dir: Path,
    redis_server: RedisServer,
    failure: str,
) -> None:
    expected = reference_output(workspace, tmp_path)
    hole = None
    if failure == "bit-flipped":
        fill_remote(workspace, tmp_path, runtime_dir, redis_server.url)
        for key in redis_server.stored_keys():
            value = bytearray(redis_server.client.get(key))  # type: ignore[arg-type]
            value[len(value) // 2] ^= 0x40
            redis_server.client.set(key, bytes(value))
        url = redis_server.url
    elif failure == "stopped":
        redis_server.stop()
        url = redis_server.url
    else:
        hole = Blackhole()
        url = hole.url
    try:
        env = runner(tmp_path, "victim", runtime_dir, url, BUILDCACHE_REMOTE_TIMEOUT="0.5")
        started = time.monotonic()
        assert build_and_run(workspace, env, tmp_path / "target-victim") == expected
        elapsed = time.monotonic() - started
    finally:
        if hole is not None:
            hole.close()
    stats = cache_stats(env)
    remote = stats["remote"]
    assert stats["hits"] == 0 and stats["errors"] == 0
    if failure == "bit-flipped":
        assert remote["corrupt"] >= 1  # type: ignore[index]
    else:
        failed = remote["errors"] + remote["timeouts"] + remote["skipped"]  # type: ignore[index]
        assert failed >= 1
    # Each compile waits at most one timeout, and three failures make every
    # process skip the remote: a handful of timeouts in all.
    assert remote["wait_ms"] < 6000, remote  # type: ignore[index]
    assert elapsed < 120


def test_a_server_stopped_in_the_middle_of_a_build_loses_no_build(
    workspace: Path, tmp_path: Path, runtime_dir: Path, shared_server: Server
) -> None:
    """The first crates are stored and uploaded; then the server goes away while the
    build is held, and the rest of the build goes on without it."""
    expected = reference_output(workspace, tmp_path)
    env = runner(
        tmp_path, "victim", runtime_dir, shared_server.url, BUILDCACHE_REMOTE_TIMEOUT="0.5",
        CARGO_TARGET_DIR=str(tmp_path / "target-victim"), **server_env(shared_server),
    )  # fmt: skip
    result = gated_build(workspace, env, tmp_path / "gate", shared_server.stop)
    assert result.returncode == 0, result.stderr
    assert program_result(tmp_path / "target-victim" / "debug" / "app") == expected
    stop_helpers(env)
    stats = cache_stats(env)
    remote = stats["remote"]
    assert stats["errors"] == 0 and stats["misses"] >= 3
    # The held crate's lookup, or its upload, met the stopped server.
    failed = remote["errors"] + remote["timeouts"] + remote["skipped"] + remote["upload_errors"]  # type: ignore[index]
    assert failed >= 1, remote
    assert remote["wait_ms"] < 6000, remote  # type: ignore[index]


def test_a_planted_unsigned_entry_is_rejected_when_signing_is_required(
    workspace: Path, tmp_path: Path, runtime_dir: Path, shared_server: Server
) -> None:
    url, env = shared_server.url, server_env(shared_server)
    expected = reference_output(workspace, tmp_path)
    # An attacker with write access fills the remote without the key...
    fill_remote(workspace, tmp_path, runtime_dir, url, **env)
    signed = runner(tmp_path, "signed", runtime_dir, url, BUILDCACHE_REMOTE_SIGNING_KEY=KEY, **env)
    assert build_and_run(workspace, signed, tmp_path / "target-signed") == expected
    stats = cache_stats(signed)
    assert stats["remote_hits"] == 0 and stats["remote"]["rejected"] >= 1  # type: ignore[index]
    stop_helpers(signed)  # ...the signed runner's own uploads replace them, signed

    # A reader with another key (read-only, as developers are: a writer with another
    # key would replace the entries with its own) trusts none of them.
    wrong = runner(
        tmp_path, "wrong", runtime_dir, url, BUILDCACHE_REMOTE_READ_ONLY="1",
        BUILDCACHE_REMOTE_SIGNING_KEY="another-key-of-enough-length", **env,
    )  # fmt: skip
    assert build_and_run(workspace, wrong, tmp_path / "target-wrong") == expected
    stats = cache_stats(wrong)
    assert stats["remote_hits"] == 0 and stats["remote"]["rejected"] >= 1  # type: ignore[index]

    key_file = tmp_path / "signing.key"
    key_file.write_text(KEY + "\n")
    trusted = runner(
        tmp_path, "trusted", runtime_dir, url,
        BUILDCACHE_REMOTE_SIGNING_KEY_FILE=str(key_file), **env,
    )  # fmt: skip
    assert build_and_run(workspace, trusted, tmp_path / "target-trusted") == expected
    stats = cache_stats(trusted)
    assert stats["misses"] == 0 and stats["remote"]["rejected"] == 0  # type: ignore[index]


def helper_status(env: dict[str, str]) -> list[dict[str, object]]:
    result = buildcache("helper", "status", "--json", env=env, check=True)
    return json.loads(result.stdout)["helpers"]  # type: ignore[no-any-return]


def test_concurrent_builds_share_one_helper(
    workspace: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    expected = reference_output(workspace, tmp_path)
    env = runner(tmp_path, "shared", runtime_dir, redis_server.url)
    builds = [
        subprocess.Popen(
            ["cargo", "build"],
            cwd=copy_checkout(workspace, tmp_path / f"checkout-{n}"),
            env={**env, "RUSTC_WRAPPER": "buildcache", "CARGO_TARGET_DIR": str(tmp_path / f"t{n}")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for build in builds:
        assert build.wait(timeout=600) == 0, build.stderr.read()  # type: ignore[union-attr]
    for n in range(4):
        assert program_result(tmp_path / f"t{n}" / "debug" / "app") == expected
    helpers = helper_status(env)
    assert len(helpers) == 1 and helpers[0]["state"] == "running"
    logs = list(runtime_dir.glob("buildcache/helper-*.log"))
    assert len(logs) == 1
    assert logs[0].read_text().count("serving") == 1, logs[0].read_text()


def test_helper_start_starts_the_helper_the_build_then_uses(
    workspace: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    """`buildcache helper start` before a build, as CI does (or the bench, so that the
    timed build does not start it): one helper, found by the next start and the build."""
    expected = reference_output(workspace, tmp_path)
    env = runner(tmp_path, "ci", runtime_dir, redis_server.url)

    def start() -> dict[str, object]:
        result = buildcache("helper", "start", "--json", env=env, check=True)
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    started = start()
    assert started["state"] == "started" and started["tiers"] == [redis_server.url]
    helpers = helper_status(env)
    assert len(helpers) == 1 and helpers[0]["state"] == "running"
    assert helpers[0]["pid"] == started["pid"]
    assert helpers[0]["cache_dir"] == env["BUILDCACHE_DIR"]
    again = start()
    assert again["state"] == "already running" and again["pid"] == started["pid"]

    assert build_and_run(workspace, env, tmp_path / "target-ci") == expected
    stats = cache_stats(env)
    remote = stats["remote"]
    assert stats["misses"] > 0 and stats["errors"] == 0
    assert remote["errors"] == remote["timeouts"] == remote["skipped"] == 0  # type: ignore[index]
    # The build's lookups and uploads went to that helper, and no other was started.
    assert [helper["pid"] for helper in helper_status(env)] == [started["pid"]]
    log = Path(str(started["log"])).read_text()
    assert log.count("serving") == 1, log
    stop_helpers(env)
    assert redis_server.stored_names(), "the build's uploads did not reach Redis"


def test_killing_the_helper_mid_build_loses_no_build(
    workspace: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    expected = reference_output(workspace, tmp_path)
    env = runner(tmp_path, "killed", runtime_dir, redis_server.url)
    env["CARGO_TARGET_DIR"] = str(tmp_path / "target-killed")

    def kill_helper() -> None:
        helpers = helper_status(env)
        assert helpers, "no helper running while the build is held"
        os.kill(int(helpers[0]["pid"]), signal.SIGKILL)  # type: ignore[call-overload]

    result = gated_build(workspace, env, tmp_path / "gate", kill_helper)
    assert result.returncode == 0, result.stderr
    assert program_result(tmp_path / "target-killed" / "debug" / "app") == expected
    assert cache_stats(env)["errors"] == 0


# C/C++ objects compiled by a build script (cc-rs): one entry each, no manifest. Their
# key covers the working directory and the output paths, so the runners share the
# checkout path and the target dir (build_and_run's), as CI runners do.
C_OUTPUT = "answer 42 twice 84\n"


@pytest.fixture(scope="module")
def c_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return c_workspace(tmp_path_factory.mktemp("remote-c-ws"))


def c_runner(
    tmp_path: Path, name: str, runtime_dir: Path, remote: str, **extra: str
) -> dict[str, str]:
    """A runner that may fetch the `cc` crate from crates.io (CARGO_HOME is shared)."""
    return runner(tmp_path, name, runtime_dir, remote, CARGO_NET_OFFLINE="false", **extra)


def fill_remote_with_c(
    checkout: Path, tmp_path: Path, runtime_dir: Path, remote: str, **extra: str
) -> dict[str, object]:
    first = c_runner(tmp_path, "first", runtime_dir, remote, **extra)
    assert build_and_run(checkout, first, tmp_path / "target") == C_OUTPUT
    stop_helpers(first)
    stats = cache_stats(first)
    c_cxx = stats["c_cxx"]
    assert c_cxx["misses"] >= 2 and c_cxx["hits"] == c_cxx["remote_hits"] == 0, c_cxx  # type: ignore[index]
    return stats


def test_a_second_runner_takes_every_c_object_from_the_remote(
    c_checkout: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    first = fill_remote_with_c(c_checkout, tmp_path, runtime_dir, url)
    objects, compiles = first["c_cxx"]["misses"], first["misses"]  # type: ignore[index]
    # An entry per object; an entry and a manifest per rustc compile.
    assert first["remote"]["uploads"] == objects + 2 * compiles  # type: ignore[index, operator]
    assert len(redis_server.stored_names()) == objects + 2 * compiles  # type: ignore[operator]

    second = c_runner(tmp_path, "second", runtime_dir, url)
    assert build_and_run(c_checkout, second, tmp_path / "target") == C_OUTPUT
    stats = cache_stats(second)
    c_cxx = stats["c_cxx"]
    # No object compiled: every cacheable C call was a hit, from the remote.
    counted = ("hits", "remote_hits", "misses", "errors", "compile_failed", "non_cacheable")
    assert [c_cxx[name] for name in counted] == [  # type: ignore[index]
        objects, objects, 0, 0, 0, first["c_cxx"]["non_cacheable"],  # type: ignore[index]
    ], c_cxx  # fmt: skip
    assert (stats["misses"], stats["remote_hits"]) == (0, compiles)
    assert stats["remote"]["tiers"] == {url: {"hits": compiles}}  # type: ignore[index]
    assert stats["remote"]["rejected"] == stats["remote"]["corrupt"] == 0  # type: ignore[index]
    table = buildcache("stats", env=second, check=True).stdout
    row = next(line for line in table.splitlines() if line.startswith("Remote hits"))
    assert row.split()[-2:] == [str(compiles), str(objects)], table

    # Written back: the next cold build takes every object from the local tier.
    assert build_and_run(c_checkout, second, tmp_path / "target") == C_OUTPUT
    c_cxx = cache_stats(second)["c_cxx"]
    assert (c_cxx["hits"], c_cxx["remote_hits"], c_cxx["misses"]) == (2 * objects, objects, 0)  # type: ignore[index, operator]


def test_a_planted_unsigned_c_object_is_rejected_when_signing_is_required(
    c_checkout: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    # Someone with write access but without the key fills the remote...
    first = fill_remote_with_c(c_checkout, tmp_path, runtime_dir, url)
    objects, compiles = first["c_cxx"]["misses"], first["misses"]  # type: ignore[index]
    signed = c_runner(tmp_path, "signed", runtime_dir, url, BUILDCACHE_REMOTE_SIGNING_KEY=KEY)
    assert build_and_run(c_checkout, signed, tmp_path / "target") == C_OUTPUT
    stats = cache_stats(signed)
    c_cxx = stats["c_cxx"]
    assert (c_cxx["remote_hits"], c_cxx["misses"]) == (0, objects), c_cxx  # type: ignore[index]
    # ...and none of it is used: every object's entry and every rustc manifest rejected.
    assert stats["remote"]["rejected"] == objects + compiles, stats["remote"]  # type: ignore[index, operator]
    stop_helpers(signed)  # its uploads replace the planted values, signed

    trusted = c_runner(tmp_path, "trusted", runtime_dir, url, BUILDCACHE_REMOTE_SIGNING_KEY=KEY)
    assert build_and_run(c_checkout, trusted, tmp_path / "target") == C_OUTPUT
    stats = cache_stats(trusted)
    c_cxx = stats["c_cxx"]
    assert (c_cxx["remote_hits"], c_cxx["misses"]) == (objects, 0), c_cxx  # type: ignore[index]
    assert stats["remote"]["rejected"] == 0  # type: ignore[index]


@pytest.mark.parametrize("read_only", ["BUILDCACHE_REMOTE_READ_ONLY", "|read-only"])
def test_a_read_only_runner_takes_c_objects_and_uploads_none(
    c_checkout: Path, tmp_path: Path, runtime_dir: Path, redis_server: RedisServer, read_only: str
) -> None:
    first = fill_remote_with_c(c_checkout, tmp_path, runtime_dir, redis_server.url)
    objects = first["c_cxx"]["misses"]  # type: ignore[index]
    names = redis_server.stored_names()
    if read_only == "|read-only":
        reader = c_runner(tmp_path, "reader", runtime_dir, redis_server.url + "|read-only")
    else:
        reader = c_runner(tmp_path, "reader", runtime_dir, redis_server.url, **{read_only: "1"})
    assert build_and_run(c_checkout, reader, tmp_path / "target") == C_OUTPUT
    assert cache_stats(reader)["c_cxx"]["remote_hits"] == objects  # type: ignore[index]
    # A changed header: answer.c compiles, is stored locally, and is never uploaded.
    header = c_checkout / "crates/app/native/bonus.h"
    original = header.read_text()
    header.write_text("#define BONUS 5\n")
    try:
        assert build_and_run(c_checkout, reader, tmp_path / "target") == "answer 45 twice 90\n"
    finally:
        header.write_text(original)
    stop_helpers(reader)
    stats = cache_stats(reader)
    assert stats["c_cxx"]["misses"] >= 1 and stats["remote"]["uploads"] == 0  # type: ignore[index]
    assert redis_server.stored_names() == names

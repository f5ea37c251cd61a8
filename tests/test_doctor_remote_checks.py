"""Doctor's remote-tier checks against a real redis-server, nginx (WebDAV) and s3s-fs
(S3) on loopback."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from correctness.remote_servers import Blackhole, NginxDav, RedisServer, S3sFs, free_port
from doctor_setup import make_setup

from buildcache.doctor.model import CheckResult, Status
from buildcache.doctor.runner import run_checks

PASSWORD = "doctor-pw-never-shown-31337"
SIGNING_KEY = "doctor-signing-key-0123456789abcdef"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def s3_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3sFs]:
    """s3s-fs, its credentials in this process's environment: boto3 reads them there,
    as it does in `buildcache doctor`."""
    server = S3sFs(tmp_path / "s3")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    yield server
    server.stop()


def remote_results(tmp_path: Path, **env: str) -> dict[str, CheckResult]:
    results = run_checks(make_setup(tmp_path, **env))
    text = json.dumps([r.as_json() for r in results])
    assert PASSWORD not in text and SIGNING_KEY not in text, text
    assert S3sFs.SECRET_KEY not in text and "wrong-s3-secret" not in text, text
    return {r.name: r for r in results if r.name.startswith("remote")}


def test_no_remote_means_no_remote_checks(tmp_path: Path) -> None:
    # The devcontainer sets read-only with no remote unless a Codespaces secret names one.
    assert remote_results(tmp_path, BUILDCACHE_REMOTE_READ_ONLY="1") == {}


def test_a_writable_redis_is_probed_and_left_clean(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=redis_server.url)
    tier = results["remote-1"]
    assert tier.status is Status.OK, tier
    assert "readable and writable" in tier.message and " ms" in tier.message
    assert redis_server.stored_keys() == []  # the probe was deleted
    assert results["remote-signing"].status is Status.WARN  # no key: say what that risks


def test_read_only_reads_and_writes_nothing(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    results = remote_results(
        tmp_path, BUILDCACHE_REMOTE=redis_server.url, BUILDCACHE_REMOTE_READ_ONLY="1"
    )
    assert results["remote-1"].status is Status.OK
    assert "read-only" in results["remote-1"].message
    assert redis_server.stored_keys() == []


def test_credentials_never_show_right_or_wrong(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    redis_server.client.config_set("requirepass", PASSWORD)
    base = f"127.0.0.1:{redis_server.port}/0"
    right = remote_results(tmp_path, BUILDCACHE_REMOTE=f"redis://:{PASSWORD}@{base}")
    assert right["remote-1"].status is Status.OK, right["remote-1"]
    assert "redis://***@127.0.0.1" in right["remote-1"].message
    wrong = remote_results(tmp_path, BUILDCACHE_REMOTE=f"redis://:{PASSWORD}x@{base}")
    assert wrong["remote-1"].status is Status.WARN
    assert "cannot be read" in wrong["remote-1"].message and wrong["remote-1"].fix


def test_a_stopped_server_warns_with_a_fix_and_never_fails_doctor(tmp_path: Path) -> None:
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=f"redis://127.0.0.1:{free_port()}/0")
    assert results["remote-1"].status is Status.WARN
    assert "BUILDCACHE_REMOTE" in str(results["remote-1"].fix)


def test_a_blackholed_server_costs_one_timeout(tmp_path: Path) -> None:
    hole = Blackhole()
    try:
        started = time.monotonic()
        results = remote_results(
            tmp_path, BUILDCACHE_REMOTE=hole.url, BUILDCACHE_REMOTE_TIMEOUT="0.3"
        )
        assert time.monotonic() - started < 3
    finally:
        hole.close()
    assert results["remote-1"].status is Status.WARN


def test_credentials_that_cannot_write_warn_unless_read_only(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    redis_server.client.execute_command(
        "ACL", "SETUSER", "reader", "on", f">{PASSWORD}", "~*", "+get", "+ping", "+hello", "+auth"
    )
    url = f"redis://reader:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=url)
    assert results["remote-1"].status is Status.WARN, results["remote-1"]
    assert "cannot be written" in results["remote-1"].message
    assert "BUILDCACHE_REMOTE_READ_ONLY=1" in str(results["remote-1"].fix)
    read_only = remote_results(tmp_path, BUILDCACHE_REMOTE=url, BUILDCACHE_REMOTE_READ_ONLY="1")
    assert read_only["remote-1"].status is Status.OK


def test_each_tier_is_checked_in_order_http_too(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    nginx = NginxDav(tmp_path / "nginx")  # takes PUT, refuses DELETE: a working tier
    try:
        results = remote_results(tmp_path, BUILDCACHE_REMOTE=f"{redis_server.url} {nginx.url}")
    finally:
        nginx.stop()
    assert results["remote-1"].status is Status.OK and "redis://" in results["remote-1"].message
    assert results["remote-2"].status is Status.OK, results["remote-2"]
    assert "http://127.0.0.1" in results["remote-2"].message


def test_a_signing_key_file_must_be_private(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "signing.key"
    key_file.write_text(SIGNING_KEY)
    env = {
        "BUILDCACHE_REMOTE": redis_server.url,
        "BUILDCACHE_REMOTE_SIGNING_KEY_FILE": str(key_file),
    }
    os.chmod(key_file, 0o644)
    loose = remote_results(tmp_path, **env)["remote-signing"]
    assert loose.status is Status.FAIL and "chmod" in str(loose.fix)
    os.chmod(key_file, 0o600)
    private = remote_results(tmp_path, **env)["remote-signing"]
    assert private.status is Status.OK and str(key_file) in private.message


def test_an_s3_tier_is_probed_and_left_clean(tmp_path: Path, s3_server: S3sFs) -> None:
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=s3_server.url)
    tier = results["remote-1"]
    assert tier.status is Status.OK, tier
    assert "readable and writable" in tier.message and s3_server.url in tier.message
    assert s3_server.stored_names() == []  # the probe was deleted


def test_wrong_s3_credentials_warn_with_an_aws_fix(
    tmp_path: Path, s3_server: S3sFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-s3-secret")
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=s3_server.url)
    tier = results["remote-1"]
    assert tier.status is Status.WARN and "cannot be read" in tier.message, tier
    assert "AWS_ACCESS_KEY_ID" in str(tier.fix) and "AWS_PROFILE" in str(tier.fix)


def test_a_tier_marked_read_only_is_not_written_while_the_others_are(
    tmp_path: Path, redis_server: RedisServer, s3_server: S3sFs
) -> None:
    remotes = f"{redis_server.url} {s3_server.url}|read-only"
    results = remote_results(tmp_path, BUILDCACHE_REMOTE=remotes)
    assert "readable and writable" in results["remote-1"].message
    assert results["remote-2"].status is Status.OK, results["remote-2"]
    assert "read-only (|read-only): not written" in results["remote-2"].message
    assert f"{s3_server.url}|read-only" in results["remote-2"].message

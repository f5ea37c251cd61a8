"""The S3 client of the storage helper (remote/backends.py) against s3s-fs on loopback:
a missing key is a miss, other failures raise without credentials, nothing retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from correctness.remote_servers import Blackhole, S3sFs, free_port

from buildcache.remote.backends import S3Backend, open_backend
from buildcache.remote.urls import parse_tier


@pytest.fixture
def s3_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3sFs]:
    server = S3sFs(tmp_path / "s3")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    yield server
    server.stop()


def test_values_round_trip_under_the_prefix_and_a_missing_one_is_a_miss(
    s3_server: S3sFs,
) -> None:
    backend = open_backend(s3_server.url, 2.0)
    try:
        assert backend.get("ab.entry") is None
        backend.put("ab.entry", b"\x00value\xff" * 1000)
        assert backend.get("ab.entry") == b"\x00value\xff" * 1000
        assert s3_server.stored_path("ab.entry").read_bytes() == b"\x00value\xff" * 1000
        backend.delete("ab.entry")
        backend.delete("ab.entry")  # already gone: not an error
        assert backend.get("ab.entry") is None
    finally:
        backend.close()
    assert backend.label == s3_server.url  # attributes shown, nothing secret in them


def test_wrong_credentials_raise_without_showing_them(
    s3_server: S3sFs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-never-shown")
    backend = open_backend(s3_server.url, 2.0)
    with pytest.raises(OSError) as caught:
        backend.get("ab.entry")
    text = repr(caught.value) + str(caught.value.__cause__) + str(caught.value.__context__)
    assert "wrong-secret" not in text and s3_server.SECRET_KEY not in text
    assert "SignatureDoesNotMatch" in str(caught.value) or "403" in str(caught.value)


def test_a_silent_endpoint_costs_one_timeout_and_no_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    hole = Blackhole()
    try:
        backend = open_backend(f"s3://bucket/p|endpoint=http://127.0.0.1:{hole.port}", 0.3)
        started = time.monotonic()
        with pytest.raises(OSError, match="ReadTimeout"):
            backend.get("ab.entry")
        assert time.monotonic() - started < 0.9  # one read timeout, not one per retry
        assert len(hole.held) == 1  # a single connection: no retry
    finally:
        hole.close()


def test_a_refused_endpoint_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    backend = S3Backend(
        parse_tier(f"s3://bucket/p|endpoint=http://127.0.0.1:{free_port()}"), 1.0, pool_size=2
    )
    started = time.monotonic()
    with pytest.raises(OSError, match="EndpointConnectionError"):
        backend.get("ab.entry")
    assert time.monotonic() - started < 1.0

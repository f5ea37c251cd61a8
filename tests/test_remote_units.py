"""Units of buildcache/remote and its settings: URLs and redaction, config
validation, signing, the shared skip-after-failures state, and the helper's protocol
against a helper process with no reachable server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from buildcache.config import load_config
from buildcache.errors import ConfigError
from buildcache.remote import breaker, signing
from buildcache.remote.urls import BadRemote, check_remote, parse_tier, redact, split_remotes


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://***@cache:6379/0"),
        ("https://ci:tok@host/path/?sig=abc", "https://***@host/path/"),
        ("redis://cache:6379/1", "redis://cache:6379/1"),
        ("user:password", "***"),
    ],
)
def test_redact_hides_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_split_remotes_takes_spaces_and_commas() -> None:
    assert split_remotes(" redis://a/0,http://b/c  https://d ") == [
        "redis://a/0",
        "http://b/c",
        "https://d",
    ]


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "redis://", "redis://:pw@:6379", "cache:6379", "redis://h:70000/0"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(BadRemote):
        check_remote(url)


@pytest.mark.parametrize(
    ("spec", "read_only", "endpoint", "path_style"),
    [
        ("s3://bucket/prefix", False, "", False),
        ("s3://my.bucket-1|read-only", True, "", False),
        ("s3://bucket/p|endpoint=http://127.0.0.1:9000", False, "http://127.0.0.1:9000", True),
        ("s3://bucket/p|path-style|read-only", True, "", True),
        ("redis://:pw@cache:6379/0|read-only", True, "", False),
        ("https://dav.example/bc/|read-only", True, "", False),
    ],
)
def test_tier_attributes_are_parsed(
    spec: str, read_only: bool, endpoint: str, path_style: bool
) -> None:
    tier = parse_tier(spec)
    assert (tier.read_only, tier.endpoint, tier.path_style) == (read_only, endpoint, path_style)
    assert tier.url == spec.split("|")[0]


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("redis://cache/0|readonly", "unknown attribute"),
        ("redis://cache/0|read-only|read-only", "given twice"),
        ("redis://cache/0|endpoint=http://x", "s3:// tiers only"),
        ("http://cache/|path-style", "s3:// tiers only"),
        ("s3://ab", "bucket name"),
        ("s3://Bucket/p", "bucket name"),
        ("s3://AKIA:secret@bucket/p", "credentials do not go in the URL"),
        ("s3://bucket/p|endpoint=http://AKIA:secret@127.0.0.1:9000", "http(s)://HOST"),
        ("s3://bucket/p|endpoint=http://127.0.0.1:9000/path", "http(s)://HOST"),
        ("s3://bucket/p|endpoint=ftp://host", "http(s)://HOST"),
        ("s3://bucket/p|endpoint=http://host:99999", "bad port"),
    ],
)
def test_bad_tiers_are_refused_without_their_secrets(spec: str, complaint: str) -> None:
    with pytest.raises(BadRemote, match=re.escape(complaint)) as caught:
        parse_tier(spec)
    assert "secret" not in str(caught.value)


def test_redaction_keeps_the_attributes() -> None:
    assert redact("redis://:pw@cache:6379/0|read-only") == "redis://***@cache:6379/0|read-only"
    spec = "s3://bucket/prefix|endpoint=http://127.0.0.1:9000|read-only"
    assert redact(spec) == spec
    assert redact("s3://b/p|endpoint=http://k:s@h") == "s3://b/p|endpoint=***"


def test_a_bad_attribute_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDCACHE_REMOTE", "redis://:hunter2@cache:6379/0|read-0nly")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "BUILDCACHE_REMOTE" in str(caught.value) and "read-0nly" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_helper_of_an_s3_tier_depends_on_the_aws_settings() -> None:
    """Another profile or key gets a helper of its own, not one holding another
    account's client; other tiers do not care about AWS_*."""
    from buildcache.remote.paths import HelperPaths

    def helper_id(remote: str, **environ: str) -> str:
        return HelperPaths("/cache", (remote,), "/run", environ).helper_id

    assert helper_id("s3://bucket/p") != helper_id("s3://bucket/p", AWS_PROFILE="ci")
    assert helper_id("s3://bucket/p", AWS_ACCESS_KEY_ID="a") != helper_id(
        "s3://bucket/p", AWS_ACCESS_KEY_ID="b"
    )
    assert helper_id("redis://c/0") == helper_id("redis://c/0", AWS_PROFILE="ci")


def test_a_bad_remote_names_the_variable_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUILDCACHE_REMOTE", "redis://:hunter2@cache:6379/0 gopher://:pw@x")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "BUILDCACHE_REMOTE" in str(caught.value)
    assert "hunter2" not in str(caught.value) and ":pw@" not in str(caught.value)


def test_remote_settings_are_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 32 + "\n")
    monkeypatch.setenv("BUILDCACHE_REMOTE", "redis://a:1/0, http://b/c")
    monkeypatch.setenv("BUILDCACHE_REMOTE_READ_ONLY", "yes")
    monkeypatch.setenv("BUILDCACHE_REMOTE_TIMEOUT", "0.25")
    monkeypatch.setenv("BUILDCACHE_REMOTE_SIGNING_KEY_FILE", str(key_file))
    config = load_config()
    assert config.remotes == ("redis://a:1/0", "http://b/c")
    assert config.remote_read_only and config.remote_timeout == 0.25
    assert config.signing_key == b"k" * 32


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUILDCACHE_REMOTE_TIMEOUT", "0"),
        ("BUILDCACHE_REMOTE_TIMEOUT", "soon"),
        ("BUILDCACHE_REMOTE_READ_ONLY", "maybe"),
        ("BUILDCACHE_REMOTE_SIGNING_KEY", "short"),
        ("BUILDCACHE_REMOTE_SIGNING_KEY_FILE", "/nonexistent/key"),
    ],
)
def test_bad_remote_settings_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_config()


def test_a_short_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDCACHE_REMOTE_SIGNING_KEY", "tiny-secret")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "tiny-secret" not in str(caught.value)


KEY = b"0123456789abcdef0123"


def test_signed_values_verify_only_with_their_key_and_name() -> None:
    stored = signing.sign(KEY, "ab.entry", b"value")
    assert signing.open_value(KEY, "ab.entry", stored) == b"value"
    with pytest.raises(signing.Rejected):
        signing.open_value(b"another key of length", "ab.entry", stored)
    with pytest.raises(signing.Rejected):
        signing.open_value(KEY, "cd.entry", stored)  # replayed under another key
    tampered = stored[:-1] + b"X"
    with pytest.raises(signing.Rejected):
        signing.open_value(KEY, "ab.entry", tampered)


def test_unsigned_values_are_rejected_with_a_key_and_accepted_without() -> None:
    with pytest.raises(signing.Rejected):
        signing.open_value(KEY, "ab.entry", b"plain")
    assert signing.open_value(None, "ab.entry", b"plain") == b"plain"
    assert signing.open_value(None, "ab.entry", signing.sign(KEY, "ab.entry", b"v")) == b"v"


def test_the_remote_is_skipped_after_failures_in_a_row(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    for _ in range(breaker.FAILURES_BEFORE_SKIP - 1):
        breaker.record_failure(state)
    assert not breaker.should_skip(state)
    breaker.record_success(state)
    for _ in range(breaker.FAILURES_BEFORE_SKIP):
        breaker.record_failure(state)
    assert breaker.should_skip(state)


def test_the_first_failure_after_the_pause_skips_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = str(tmp_path / "state")
    for _ in range(breaker.FAILURES_BEFORE_SKIP):
        breaker.record_failure(state)
    later = time.time() + breaker.SKIP_SECONDS + 1
    monkeypatch.setattr(breaker.time, "time", lambda: later)
    assert not breaker.should_skip(state)
    breaker.record_failure(state)
    assert breaker.should_skip(state)


def test_a_helper_dir_others_can_open_is_refused(tmp_path: Path) -> None:
    from buildcache.remote.paths import UnsafeRuntimeDir, ensure_private_dir

    private = tmp_path / "private"
    ensure_private_dir(str(private))
    assert private.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(UnsafeRuntimeDir):
        ensure_private_dir(str(shared))
    link = tmp_path / "link"
    link.symlink_to(private)
    with pytest.raises(UnsafeRuntimeDir):
        ensure_private_dir(str(link))


def test_a_background_store_never_starts_the_helper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A detached store runs at the lowest priority (wrapper/detached_store.py); a helper
    it started would keep that priority and serve every later build at it. With no
    helper listening, the background store skips its upload instead."""
    import os

    from buildcache.remote import client
    from buildcache.remote.paths import HelperPaths
    from buildcache.wrapper import detached_store

    monkeypatch.setattr(client, "SPAWN_HELPER", [True])
    # Not this test process's niceness and OOM score: they would last the whole run.
    monkeypatch.setattr(os, "nice", lambda increment: 0)
    monkeypatch.setattr(detached_store, "OOM_SCORE_ADJ_FILE", [str(tmp_path / "oom_score_adj")])
    detached_store.lower_priority()
    assert (tmp_path / "oom_score_adj").read_text() == str(detached_store.OOM_SCORE_ADJ)
    assert client.SPAWN_HELPER == [False]

    monkeypatch.setenv("BUILDCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUILDCACHE_REMOTE", "redis://127.0.0.1:9/0")
    config = load_config()
    paths = HelperPaths(config.cache_dir, config.remotes, str(tmp_path / "run"))
    spawned = []
    monkeypatch.setattr(client, "_spawn", lambda *args: spawned.append(args))
    with pytest.raises(client.RemoteUnavailable) as caught:
        client.request(config, paths, {"op": "get", "key": "k"})
    assert caught.value.reason == "skipped" and spawned == []


def test_a_remote_entry_whose_digests_lie_is_corrupt() -> None:
    """A hit records an entry's output digests for the dependents; an entry from a remote
    (unsigned, or another machine's) has them checked against its data first."""
    from buildcache.cache import store
    from buildcache.cache.digests import sha256
    from buildcache.wrapper.remote_tier import _check_digests

    outputs = [
        ("liba.rlib", 0o644, memoryview(b"the rlib")),
        ("liba.rmeta", 0o644, memoryview(b"m")),
    ]
    honest = store.Entry(outputs, b"", b"", 1, {"liba.rlib": sha256(b"the rlib").hexdigest()})
    _check_digests(honest)
    lying = store.Entry(outputs, b"", b"", 1, {"liba.rlib": sha256(b"an older rlib").hexdigest()})
    with pytest.raises(store.CorruptEntry, match="liba.rlib"):
        _check_digests(lying)


def test_a_miss_restarts_the_helper_its_background_store_uploads_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The helper the lookup used may have exited since (idle during a long compile,
    `buildcache helper stop`); the background store may not start one (it would inherit
    the store's priority), so the wrapper makes sure one is listening before it forks."""
    from buildcache.remote import client
    from buildcache.wrapper.remote_tier import RemoteTier

    runtime = tempfile.mkdtemp(prefix="bc-", dir="/tmp")  # short: a socket path's limit
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("BUILDCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUILDCACHE_REMOTE", "redis://127.0.0.1:9/0")
    tier = RemoteTier(load_config())
    try:
        tier.keep_helper()
        assert tier.usable and not tier.counts.get("remote_errors"), tier.counts
        monkeypatch.setattr(client, "SPAWN_HELPER", [False])  # as in the background store
        reply = client.request(tier.config, tier.paths, {"op": "ping"})
        assert reply["status"] == "ok"
    finally:
        subprocess.run(
            [sys.executable, "-m", "buildcache", "helper", "stop"], capture_output=True, timeout=60
        )
        shutil.rmtree(runtime, ignore_errors=True)

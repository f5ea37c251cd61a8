"""Doctor checks of the remote tiers: each one reachable, readable, writable unless
read-only, its latency against BUILDCACHE_REMOTE_TIMEOUT; and the signing key.

The checks talk to each tier directly, with the storage helper's own clients
(remote/backends.py), not through a running helper: doctor must say what is wrong with
the tier itself, not with a helper started under another configuration. Every message
shows a tier by its redacted URL, and any text from a client library is scrubbed of
the URL's credentials before it is shown.

A tier that cannot be reached, read or written is a warning, not a failure: builds
still work and cache locally (a remote never fails a build), and a `buildcache doctor`
step in CI must not fail a job because the shared cache is down. A signing key file
every account can read is a failure: it lets anyone sign what the team then links.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from collections.abc import Mapping
from urllib.parse import unquote

from buildcache.config import Config
from buildcache.doctor.model import CheckResult, fail, ok, warn
from buildcache.remote.backends import Backend
from buildcache.remote.urls import parse_tier, redact

# A lookup slower than this share of BUILDCACHE_REMOTE_TIMEOUT is close to timing out
# under load (a parallel build's lookups queue behind each other): worth a warning.
SLOW_SHARE_OF_TIMEOUT = 0.5
# Doctor's probe values live under their own prefix, far from any cache key (keys are
# hex digests), so a probe can never be mistaken for an entry or a manifest.
PROBE_PREFIX = "doctor-probe-"
SIGNING_KEY_FILE = "BUILDCACHE_REMOTE_SIGNING_KEY_FILE"


def check_remotes(config: Config, environ: Mapping[str, str]) -> list[CheckResult]:
    """One result per configured tier (none without BUILDCACHE_REMOTE), then the signing key."""
    if not config.remotes:
        return []
    results = [
        check_remote(config, url, name=f"remote-{index}")
        for index, url in enumerate(config.remotes, start=1)
    ]
    results.append(check_signing(config, environ))
    return results


def scrub(text: str, url: str) -> str:
    """text without the URL's userinfo, whole or in parts, raw or percent-decoded."""
    authority = url.partition("://")[2].partition("/")[0]
    if "@" not in authority:
        return text
    userinfo = authority.rpartition("@")[0]
    secrets_in_url = {userinfo, unquote(userinfo)}
    for part in userinfo.split(":"):
        secrets_in_url.update({part, unquote(part)})
    for secret in sorted((s for s in secrets_in_url if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def check_remote(config: Config, url: str, *, name: str) -> CheckResult:
    label = redact(url)
    timeout = config.remote_timeout
    try:
        from buildcache.remote.backends import open_backend

        backend = open_backend(url, timeout)
    except ImportError as error:
        return warn(
            name,
            f"{label}: the storage helper's client library is missing ({error.name}): "
            "every rustc call goes on without this tier",
            "Install the remote-tier clients beside buildcache: `pip install 'buildcache[remote]'` "
            "in buildcache's virtualenv, or provision again (buildcache_remote_packages).",
        )
    except Exception as error:  # a client refusing its options: say so, never crash doctor
        return warn(name, f"{label}: {scrub(str(error), url)}", _fix_url())
    try:
        return _probe(backend, config, url, name=name)
    finally:
        try:
            backend.close()
        except Exception:
            pass


def _probe(backend: Backend, config: Config, url: str, *, name: str) -> CheckResult:
    label = redact(url)
    probe = PROBE_PREFIX + secrets.token_hex(8)
    started = time.monotonic()
    try:
        backend.get(probe)  # a miss: proves the tier is reachable and answers reads
    except Exception as error:
        return warn(
            name,
            f"{label} cannot be read: {_reason(error, url)}; every rustc call waits up to "
            f"{config.remote_timeout:g} s for it, then skips it for a while",
            _fix_reach(url),
        )
    latency_ms = (time.monotonic() - started) * 1000
    if config.remote_read_only:
        written = "read-only (BUILDCACHE_REMOTE_READ_ONLY=1): not written"
    elif parse_tier(url).read_only:
        written = "read-only (|read-only): not written"
    else:
        problem, leftover = _write_read_delete(backend, probe)
        if problem is not None:
            return warn(
                name,
                f"{label} is readable but cannot be written: {scrub(problem, url)}; "
                "nothing this machine compiles reaches it",
                "Give these credentials write access (a Redis ACL allowing SET and DEL, an "
                "HTTP server taking PUT and DELETE, e.g. nginx `dav_methods PUT DELETE;`, "
                "an S3 policy allowing s3:PutObject and s3:DeleteObject), or mark the tier "
                "`|read-only` (BUILDCACHE_REMOTE_READ_ONLY=1 for every tier) if this "
                "machine should only read it.",
            )
        written = "readable and writable (a probe value was written and read back" + (
            f"; it could not be deleted: {scrub(leftover, url)}, which is harmless)"
            if leftover
            else ", then deleted)"
        )
    message = f"{label}: {written}; a lookup took {latency_ms:.0f} ms"
    if latency_ms > SLOW_SHARE_OF_TIMEOUT * config.remote_timeout * 1000:
        return warn(
            name,
            f"{message}, more than {SLOW_SHARE_OF_TIMEOUT:.0%} of "
            f"BUILDCACHE_REMOTE_TIMEOUT ({config.remote_timeout:g} s): under a parallel build "
            "lookups will time out and count as misses",
            "Use a tier nearer to this machine, or raise BUILDCACHE_REMOTE_TIMEOUT.",
        )
    return ok(name, message)


def _write_read_delete(backend: Backend, probe: str) -> tuple[str | None, str | None]:
    """(why the tier cannot be written, or None; why the probe stayed behind, or None).

    A server that takes PUT but refuses DELETE (bazel-remote's HTTP cache, nginx without
    `dav_methods DELETE`) is a working tier: the left-over probe is only noted."""
    value = b"buildcache doctor probe " + secrets.token_bytes(16)
    try:
        backend.put(probe, value)
    except Exception as error:
        return f"writing a probe value failed ({type(error).__name__}: {error})", None
    try:
        back = backend.get(probe)
    except Exception as error:
        return f"reading the probe value back failed ({type(error).__name__}: {error})", None
    if back != value:
        problem = "the probe value read back differs from the one written (a proxy in front?)"
        return problem, None
    try:
        backend.delete(probe)
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    return None, None


def _reason(error: BaseException, url: str) -> str:
    return scrub(f"{type(error).__name__}: {error}", url)


def _fix_reach(url: str) -> str:
    if url[:5].lower() == "s3://":
        check = (
            "Check that the bucket exists and this machine reaches its endpoint (AWS, or an "
            "S3-compatible store named by |endpoint= or AWS_ENDPOINT_URL_S3), and that the AWS "
            "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and "
            "region (AWS_REGION) are right and may read the bucket."
        )
    else:
        check = (
            "Check that the server runs and this machine reaches it (host, port, firewall, "
            "TLS: rediss:// or https://), and that the URL's credentials are right."
        )
    return (
        f"{check} Until then remove the tier from BUILDCACHE_REMOTE: builds still work, "
        "from the local cache and the other tiers."
    )


def _fix_url() -> str:
    return "Correct the URL in BUILDCACHE_REMOTE (`buildcache config` shows where it is set)."


def check_signing(config: Config, environ: Mapping[str, str]) -> CheckResult:
    """With a key: it is private. Without: whoever can write a tier decides what you link."""
    if config.signing_key is None:
        return warn(
            "remote-signing",
            "no signing key: values from the remote tiers are used as they are, so anyone "
            "who can write to a tier can plant an artifact this machine links",
            "Set BUILDCACHE_REMOTE_SIGNING_KEY_FILE to a file (mode 0600) holding the key "
            "your writers (CI) sign with; then unsigned values are never used.",
        )
    origin = config.origins.get(SIGNING_KEY_FILE, "default")
    path = _key_file(config, environ)
    if path is not None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        if mode & stat.S_IROTH:
            return fail(
                "remote-signing",
                f"the signing key file {path} is readable by every account on this machine: "
                "anyone of them could sign a planted artifact",
                f"`chmod o-rwx {path}` (0600 for one user; 0640 with a group for system-wide).",
            )
        where = f"from {path} ({SIGNING_KEY_FILE}, set in {_describe(origin)})"
    else:
        origin = config.origins.get("BUILDCACHE_REMOTE_SIGNING_KEY", "default")
        where = f"from BUILDCACHE_REMOTE_SIGNING_KEY ({_describe(origin)})"
    read_only = config.remote_read_only or all(
        parse_tier(spec).read_only for spec in config.remotes
    )
    verb = "verified" if read_only else "signed and verified"
    return ok("remote-signing", f"remote values are {verb} with the key {where}")


def _key_file(config: Config, environ: Mapping[str, str]) -> str | None:
    """The key file's path, if the key came from one, as load_config read it."""
    origin = config.origins.get(SIGNING_KEY_FILE, "default")
    if origin == "default":
        return None
    if origin == "environment":
        path = environ.get(SIGNING_KEY_FILE, "")
    else:
        from buildcache.config import read_config_file

        path = read_config_file(origin).get(SIGNING_KEY_FILE, "")
    return os.path.expanduser(path) if path else None


def _describe(origin: str) -> str:
    return "the environment" if origin == "environment" else origin

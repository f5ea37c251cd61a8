"""Where one helper's socket, lock, log and shared failure state live.

One helper per user, cache dir and list of remotes: the id hashes the last two (and,
with an s3:// tier, the AWS settings the helper's S3 client reads from its
environment), in the user's private runtime dir (cache/runtime_dir.py: a socket or
state file somebody else could replace would let them answer our lookups).
Unix socket paths are limited to ~107 bytes, so they cannot live in a deep cache dir.
"""

from __future__ import annotations

import os

from buildcache.cache.digests import text_digest

# Re-exported: where the helper's code has always found them.
from buildcache.cache.runtime_dir import UnsafeRuntimeDir as UnsafeRuntimeDir
from buildcache.cache.runtime_dir import ensure_private_dir as ensure_private_dir
from buildcache.cache.runtime_dir import runtime_dir as runtime_dir

# What boto3 reads from the environment of the helper that the first wrapper starts:
# a call under another profile, endpoint, region or key must get a helper of its own,
# not one holding another account's client. Only digested, never stored or shown.
S3_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)


class HelperPaths:
    __slots__ = ("directory", "helper_id", "socket", "start_lock", "alive_lock", "log", "state")

    def __init__(
        self,
        cache_dir: str,
        remotes: tuple[str, ...],
        directory: str,
        environ: dict[str, str] | os._Environ[str] | None = None,
    ) -> None:
        self.directory = directory
        parts = [os.path.realpath(cache_dir), *remotes]
        if any(remote[:5].lower() == "s3://" for remote in remotes):
            environ = os.environ if environ is None else environ
            parts += [f"{name}={environ.get(name, '')}" for name in S3_ENVIRONMENT]
        self.helper_id = text_digest(*parts)[:16]
        prefix = os.path.join(directory, f"helper-{self.helper_id}")
        self.socket = prefix + ".sock"
        self.start_lock = prefix + ".start.lock"  # held by whoever starts the helper
        self.alive_lock = prefix + ".alive.lock"  # held by the running helper all its life
        self.log = prefix + ".log"
        self.state = prefix + ".state"  # failures and skip-until, shared by every wrapper


def helper_paths(cache_dir: str, remotes: tuple[str, ...]) -> HelperPaths:
    return HelperPaths(cache_dir, remotes, runtime_dir())

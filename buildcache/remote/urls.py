"""BUILDCACHE_REMOTE: the remote tiers, validated and shown without credentials.

Each tier is a URL, optionally followed by attributes after `|`, as in ccache's
remote_storage (`URL|read-only`): an attribute travels with its URL, so reordering or
adding tiers never changes which one is read-only.

- `read-only` (any tier): read it, never write it (no uploads, no backfill).
- `endpoint=http(s)://HOST[:PORT]` (s3:// only): an S3-compatible store instead of
  AWS; implies path-style addressing, which such stores serve by default.
- `path-style` (s3:// only): path-style addressing with an endpoint set the AWS way
  (AWS_ENDPOINT_URL_S3).

Imported by config.py on the wrapper's hot path, so plain string operations only
(urllib.parse would cost an import on every rustc call)."""

from __future__ import annotations

# Schemes the storage helper has a client for.
SUPPORTED_SCHEMES = ("redis", "rediss", "http", "https", "s3")
ATTRIBUTE_SEPARATOR = "|"
READ_ONLY = "read-only"
# Attributes each scheme takes; a flag has no `=value`.
_FLAGS = {READ_ONLY: SUPPORTED_SCHEMES, "path-style": ("s3",)}
_VALUED = {"endpoint": ("s3",)}
# S3 bucket names: 3-63 of these (AWS's rules, which S3-compatible stores follow).
_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


class BadRemote(ValueError):
    """A URL the helper cannot use; the message never contains credentials."""


class TierSpec:
    """One tier of BUILDCACHE_REMOTE: its URL (credentials included: show it only
    through redact()) and its attributes."""

    __slots__ = ("url", "read_only", "endpoint", "path_style")

    def __init__(self, url: str, attributes: dict[str, str]) -> None:
        self.url = url
        self.read_only = READ_ONLY in attributes
        self.endpoint = attributes.get("endpoint", "")
        self.path_style = "path-style" in attributes or bool(self.endpoint)

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()


def split_remotes(text: str) -> list[str]:
    """One or more tiers, separated by spaces or commas."""
    return [part for part in text.replace(",", " ").split() if part]


def parse_tier(spec: str) -> TierSpec:
    """The tier a BUILDCACHE_REMOTE item names; BadRemote if it is not usable."""
    url, *parts = spec.split(ATTRIBUTE_SEPARATOR)
    check_remote(url)
    scheme = url.partition("://")[0].lower()
    attributes: dict[str, str] = {}
    for part in parts:
        name, equals, value = part.partition("=")
        takes = _VALUED.get(name) if equals else _FLAGS.get(name)
        if takes is None:
            known = [*_FLAGS, *(f"{name}=..." for name in _VALUED)]
            raise BadRemote(
                f"{redact(url)}: unknown attribute {part!r}, expected one of " + ", ".join(known)
            )
        if scheme not in takes:
            raise BadRemote(f"{redact(url)}: {name} applies to {', '.join(takes)}:// tiers only")
        if name in attributes:
            raise BadRemote(f"{redact(url)}: {name} given twice")
        attributes[name] = value
    endpoint = attributes.get("endpoint")
    if endpoint is not None:
        _check_endpoint(url, endpoint)
    return TierSpec(url, attributes)


def check_remote(url: str) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise BadRemote(f"{redact(url)} is not a URL (expected SCHEME://HOST...)")
    scheme = scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise BadRemote(
            f"{redact(url)}: unknown scheme {scheme!r}, expected one of "
            + ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        )
    if scheme == "s3":
        _check_s3(url, rest)
        return
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if not host or host.startswith(":"):
        raise BadRemote(f"{redact(url)}: no host")
    port = host.rpartition("]")[2].partition(":")[2] if ":" in host else ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise BadRemote(f"{redact(url)}: bad port {port!r}")


def _check_s3(url: str, rest: str) -> None:
    bucket = rest.partition("/")[0]
    if "@" in bucket:
        # Nothing reads them there; they would only end up in shell history and configs.
        raise BadRemote(
            f"{redact(url)}: S3 credentials do not go in the URL; use AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or a profile (AWS_PROFILE)"
        )
    if not (3 <= len(bucket) <= 63 and _BUCKET_CHARS.issuperset(bucket)):
        raise BadRemote(
            f"{redact(url)}: expected s3://BUCKET/PREFIX with a bucket name of 3 to 63 "
            "lowercase letters, digits, dots and hyphens (an endpoint goes in |endpoint=...)"
        )
    if "?" in rest or "#" in rest:
        raise BadRemote(f"{redact(url)}: an S3 prefix takes no query or fragment")


def _check_endpoint(url: str, endpoint: str) -> None:
    """scheme://host[:port] and nothing else: no credentials, path or query to hide."""
    scheme, sep, rest = endpoint.partition("://")
    authority = rest.rstrip("/")
    clean = (
        sep
        and scheme.lower() in ("http", "https")
        and authority
        and not any(char in authority for char in "@/?#")
    )
    if not clean:
        raise BadRemote(
            f"{redact(url)}: endpoint= takes http(s)://HOST[:PORT] only (credentials go in "
            "AWS_* variables or a profile)"
        )
    check_remote(f"{scheme}://{authority}")


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in `/`, or empty) of an s3:// URL."""
    bucket, _, prefix = url.partition("://")[2].partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def redact(spec: str) -> str:
    """The tier with any userinfo (user, password, token) replaced by `***`, and any
    query string dropped (presigned tokens live there); its attributes as given (they
    hold no secrets: parse_tier refuses an endpoint with credentials)."""
    url, separator, attributes = spec.partition(ATTRIBUTE_SEPARATOR)
    scheme, sep, rest = url.partition("://")
    if not sep:
        # Not a URL: it may still be a secret pasted in the wrong place.
        return "***" if "@" in url or ":" in url else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    path = path.partition("?")[0].partition("#")[0]
    shown = f"{scheme}://{authority}{slash}{path}"
    if separator:
        shown += separator + ATTRIBUTE_SEPARATOR.join(
            part if "@" not in part else part.partition("=")[0] + "=***"
            for part in attributes.split(ATTRIBUTE_SEPARATOR)
        )
    return shown

"""BUILDCACHE_REMOTE: the remote tier URLs, validated and shown without credentials.

Imported by config.py on the wrapper's hot path, so plain string operations only
(urllib.parse would cost an import on every rustc call)."""

from __future__ import annotations

# Schemes the storage helper has a client for.
SUPPORTED_SCHEMES = ("redis", "rediss", "http", "https")
# Named in the design, not implemented yet: refused with a clear message rather than
# accepted and silently never used.
PLANNED_SCHEMES = ("s3",)


class BadRemote(ValueError):
    """A URL the helper cannot use; the message never contains credentials."""


def split_remotes(text: str) -> list[str]:
    """One or more URLs, separated by spaces or commas."""
    return [part for part in text.replace(",", " ").split() if part]


def check_remote(url: str) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise BadRemote(f"{redact(url)} is not a URL (expected SCHEME://HOST...)")
    scheme = scheme.lower()
    if scheme in PLANNED_SCHEMES:
        raise BadRemote(f"{redact(url)}: {scheme}:// tiers are not supported yet")
    if scheme not in SUPPORTED_SCHEMES:
        raise BadRemote(
            f"{redact(url)}: unknown scheme {scheme!r}, expected one of "
            + ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        )
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if not host or host.startswith(":"):
        raise BadRemote(f"{redact(url)}: no host")
    port = host.rpartition("]")[2].partition(":")[2] if ":" in host else ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise BadRemote(f"{redact(url)}: bad port {port!r}")


def redact(url: str) -> str:
    """The URL with any userinfo (user, password, token) replaced by `***`, and any
    query string dropped (presigned tokens live there)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        # Not a URL: it may still be a secret pasted in the wrong place.
        return "***" if "@" in url or ":" in url else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    path = path.partition("?")[0].partition("#")[0]
    return f"{scheme}://{authority}{slash}{path}"

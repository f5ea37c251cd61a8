"""Storage clients of the helper, one per remote tier, on maintained libraries.

- redis://, rediss:// -> redis-py: pooled, thread-safe connections, TLS for rediss,
  AUTH from the URL's userinfo, the database from its path.
- http://, https://   -> urllib3: a thread-safe pool of keep-alive connections; plain
  GET / PUT on `<url>/<name>` (nginx WebDAV, bazel-remote's HTTP cache, any server
  that accepts PUT), basic auth from the URL's userinfo. DELETE only for doctor's probe.

Each get returns the bytes or None (a miss); anything else raises. No retries: the
wrapper's deadline is short and a failing tier is skipped (helper.py, breaker.py).
"""

from __future__ import annotations

from typing import Protocol

from buildcache.remote.urls import redact

# Namespace of our values in a Redis database that may hold other things.
REDIS_PREFIX = "buildcache:"


class Backend(Protocol):
    label: str  # the URL, redacted: safe to log

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, value: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def close(self) -> None: ...


class RedisBackend:
    def __init__(self, url: str, timeout: float) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.label = redact(url)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )

    def get(self, name: str) -> bytes | None:
        value = self._client.get(REDIS_PREFIX + name)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    def put(self, name: str, value: bytes) -> None:
        self._client.set(REDIS_PREFIX + name, value)

    def delete(self, name: str) -> None:
        self._client.delete(REDIS_PREFIX + name)

    def close(self) -> None:
        self._client.close()


class HttpBackend:
    def __init__(self, url: str, timeout: float) -> None:
        import urllib3

        scheme, _, rest = url.partition("://")
        authority, _, path = rest.partition("/")
        headers = {}
        if "@" in authority:
            userinfo, _, authority = authority.rpartition("@")
            from urllib.parse import unquote

            headers = urllib3.util.make_headers(basic_auth=unquote(userinfo))
        self.label = redact(url)
        self._base = f"{scheme}://{authority}/{path.strip('/')}".rstrip("/") + "/"
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=8,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
        )

    def get(self, name: str) -> bytes | None:
        response = self._pool.request("GET", self._base + name, preload_content=True)
        if response.status == 404:
            return None
        if response.status != 200:
            raise OSError(f"GET answered HTTP {response.status}")
        return bytes(response.data)

    def put(self, name: str, value: bytes) -> None:
        response = self._pool.request(
            "PUT",
            self._base + name,
            body=value,
            headers={**self._pool.headers, "Content-Type": "application/octet-stream"},
        )
        if response.status not in (200, 201, 204):
            raise OSError(f"PUT answered HTTP {response.status}")

    def delete(self, name: str) -> None:
        response = self._pool.request("DELETE", self._base + name)
        if response.status not in (200, 202, 204, 404):
            raise OSError(f"DELETE answered HTTP {response.status}")

    def close(self) -> None:
        self._pool.clear()


def open_backend(url: str, timeout: float) -> Backend:
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis", "rediss"):
        return RedisBackend(url, timeout)
    if scheme in ("http", "https"):
        return HttpBackend(url, timeout)
    raise ValueError(f"{redact(url)}: no client for {scheme}://")

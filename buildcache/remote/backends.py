"""Storage clients of the helper, one per remote tier, on maintained libraries.

- redis://, rediss:// -> redis-py: pooled, thread-safe connections, TLS for rediss,
  AUTH from the URL's userinfo, the database from its path.
- http://, https://   -> urllib3: a thread-safe pool of keep-alive connections; plain
  GET / PUT on `<url>/<name>` (nginx WebDAV, bazel-remote's HTTP cache, any server
  that accepts PUT), basic auth from the URL's userinfo. DELETE only for doctor's probe.
- s3://bucket/prefix  -> boto3, AWS's own SDK: it finds credentials, region and
  endpoint the way every AWS tool does (AWS_* variables, profiles, instance roles,
  AWS_ENDPOINT_URL_S3), and its client is thread-safe with a connection pool.
  Objects are `<prefix>/<name>`; `|endpoint=` names an S3-compatible store.

Each get returns the bytes or None (a miss); anything else raises. No retries: the
wrapper's deadline is short and a failing tier is skipped (helper.py, breaker.py).
"""

from __future__ import annotations

from typing import Protocol

from buildcache.remote.urls import TierSpec, parse_tier, redact, s3_location

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


class S3Backend:
    # S3 codes of a key that is not there: GetObject says NoSuchKey, some stores 404.
    MISSING = frozenset({"NoSuchKey", "404", "NotFound"})

    def __init__(self, spec: TierSpec, timeout: float, *, pool_size: int) -> None:
        import boto3
        from botocore.config import Config

        self.label = redact(spec.url)
        self._bucket, self._prefix = s3_location(spec.url)
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            # total_max_attempts counts the first try: 1 is no retry. (max_attempts
            # counts retries only, so max_attempts=1 would still try twice.)
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool_size,
            s3={"addressing_style": "path"} if spec.path_style else None,
            # Checksums only where S3 requires them: the default since botocore 1.36
            # (CRC32 in aws-chunked trailers) is refused by many S3-compatible stores,
            # and every value carries its own SHA-256 that the wrapper checks anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session is not thread-safe to create.
        session = boto3.session.Session()
        self._client = session.client("s3", endpoint_url=spec.endpoint or None, config=config)

    def get(self, name: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._prefix + name)
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except Exception as error:  # noqa: BLE001 - mapped to a miss or a plain error
            if _s3_code(error) in self.MISSING:
                return None
            raise _s3_error("GET", error) from None

    def put(self, name: str, value: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=self._prefix + name,
                Body=value,
                ContentType="application/octet-stream",
            )
        except Exception as error:  # noqa: BLE001
            raise _s3_error("PUT", error) from None

    def delete(self, name: str) -> None:
        try:
            self._client.delete_object(Bucket=self._bucket, Key=self._prefix + name)
        except Exception as error:  # noqa: BLE001
            if _s3_code(error) not in self.MISSING:
                raise _s3_error("DELETE", error) from None

    def close(self) -> None:
        self._client.close()


def _s3_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _s3_error(operation: str, error: BaseException) -> OSError:
    """An OSError naming what failed, without botocore's exception (and whatever its
    attributes hold: request headers with the signature) attached."""
    code = _s3_code(error)
    if code:
        status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return OSError(f"{operation} answered {code} (HTTP {status})")
    return OSError(f"{operation} failed: {type(error).__name__}: {error}")


# Connections the S3 client pools: one per upload worker plus the concurrent lookups of
# a parallel build (botocore's default of 10 logs a warning and drops the excess).
S3_POOL_SIZE = 16


def open_backend(spec: str, timeout: float) -> Backend:
    """The client of one BUILDCACHE_REMOTE item (a URL and its attributes)."""
    tier = parse_tier(spec)
    backend: Backend
    if tier.scheme in ("redis", "rediss"):
        backend = RedisBackend(tier.url, timeout)
    elif tier.scheme in ("http", "https"):
        backend = HttpBackend(tier.url, timeout)
    elif tier.scheme == "s3":
        backend = S3Backend(tier, timeout, pool_size=S3_POOL_SIZE)
    else:
        raise ValueError(f"{redact(spec)}: no client for {tier.scheme}://")
    backend.label = redact(spec)  # with its attributes, as stats and config show it
    return backend

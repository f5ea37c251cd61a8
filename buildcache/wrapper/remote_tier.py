"""The wrapper's remote tiers: asked on a local miss, filled after a compile.

Lookup: if no local manifest candidate matches, the remote manifest is fetched and
matched the same way; the entry is then taken from the local tier when it is there,
else fetched. Every remote value is checked exactly like a local file (its SHA-256
trailer and its format, store.py), and, with a signing key, its signature first
(remote/signing.py); a value that fails is a counted miss. A hit is written back to
the local tier, so the next lookup is local.

Store: after a miss is stored locally, the entry file and the manifest (merged with
the remote's candidates seen in the lookup) go to the helper, which uploads them in
the background to every tier not marked `|read-only`. Nothing is sent with
BUILDCACHE_REMOTE_READ_ONLY=1 or when every tier is read-only.

C/C++ objects (c_family/compile.py) go the same way with one value each: their key
names the entry directly, so there is no manifest to fetch or upload.

The remote never costs more than one helper timeout per call: after a timeout or
error, this call does not ask again.
"""

from __future__ import annotations

import time

from buildcache.cache import counters, store
from buildcache.cache.digests import sha256
from buildcache.remote.client import RemoteUnavailable, request
from buildcache.remote.paths import helper_paths
from buildcache.remote.signing import Rejected, open_value, sign
from buildcache.remote.urls import parse_tier
from buildcache.wrapper.hit import find_result

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    import os

    from buildcache.config import Config

KEY_LENGTH = 64  # hex SHA-256: keys become file names, so a remote one is checked first
_HEX = frozenset("0123456789abcdef")


def is_key(text: object) -> bool:
    return isinstance(text, str) and len(text) == KEY_LENGTH and _HEX.issuperset(text)


def decode_manifest(data: bytes) -> list[store.Candidate]:
    """A manifest's candidates, checked like store.load_manifest checks a local one."""
    header, _ = store._unseal(store.MANIFEST_MAGIC, data)
    try:
        if not isinstance(header, list):
            raise store.CorruptEntry("manifest is not a list")
        candidates = [(list(files), list(env), str(result)) for files, env, result in header]
    except (TypeError, ValueError):
        raise store.CorruptEntry("bad manifest") from None
    if not all(is_key(result) for _, _, result in candidates):
        raise store.CorruptEntry("bad result key in manifest")
    return candidates


def _check_digests(entry: store.Entry) -> None:
    """A local entry's output digests are trusted as written by this cache; one from a
    remote (unsigned, or from another machine's bug) is checked against its data before
    a hit records the digests for the dependents. Next to the network, the hashing is
    cheap."""
    for name, _, data in entry.outputs:
        digest = entry.digests.get(name)
        if digest is not None and sha256(data).hexdigest() != digest:
            raise store.CorruptEntry(f"the digest of {name} is not its content's")


class RemoteTier:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.paths = helper_paths(config.cache_dir, config.remotes)
        # Whether any tier takes uploads and backfills (the helper picks which).
        self.writable = not config.remote_read_only and not all(
            parse_tier(spec).read_only for spec in config.remotes
        )
        self.counts: dict[str, int] = {}
        self.usable = True
        self.remote_candidates: list[store.Candidate] = []
        self.last_tier = 0  # which tier (position) served the last remote value

    def _count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def _ask(self, message: dict[str, object]) -> dict[str, object] | None:
        if not self.usable:
            return None
        started = time.perf_counter()
        try:
            return request(self.config, self.paths, message)
        except RemoteUnavailable as failure:
            self.usable = False
            names = {"timeout": "remote_timeouts", "skipped": "remote_skipped"}
            self._count(names.get(failure.reason, "remote_errors"))
            return None
        finally:
            self._count("remote_wait_ms", round((time.perf_counter() - started) * 1000))

    def _get(self, name: str) -> bytes | None:
        backfill = self.writable
        reply = self._ask({"op": "get", "name": name, "backfill": backfill})
        if reply is None:
            return None
        errors = reply.get("errors", 0)
        self._count("remote_errors", errors if isinstance(errors, int) else 0)
        if reply.get("status") == "error":
            self.usable = False
        data = reply.get("data")
        if reply.get("status") == "miss":
            self._count("remote_misses")
        if reply.get("status") != "hit" or not isinstance(data, bytes):
            return None
        self._count("remote_bytes_down", len(data))
        tier = reply.get("tier")
        self.last_tier = tier if isinstance(tier, int) and tier >= 0 else 0
        try:
            return open_value(self.config.signing_key, name, data)
        except Rejected:
            self._count("remote_rejected")
            return None

    def find(
        self,
        base_key: str,
        result_key: str | None,
        cwd: str,
        environ: os._Environ[str],
        memo: dict[str, str | None],
        expected_outputs: list[str],
    ) -> tuple[str, store.Entry] | None:
        """(result key, entry) from the remote, written back to the local tier; or None.
        A remote entry must hold exactly the files this compile writes: restoring one
        with other names would overwrite other crates' outputs in the out dir."""
        cache_dir = self.config.cache_dir
        candidate = None
        served_by = 0
        if result_key is None:
            data = self._get(base_key + ".manifest")
            if data is None:
                return None
            served_by = self.last_tier
            try:
                self.remote_candidates = decode_manifest(data)
            except store.CorruptEntry:
                self._count("remote_corrupt")
                return None
            result_key = find_result(self.remote_candidates, cwd, environ, memo)
            if result_key is None:
                self._count("remote_misses")
                return None
            candidate = next(c for c in self.remote_candidates if c[2] == result_key)
        entry = None
        try:
            entry = store.load_entry(cache_dir, result_key)
        except store.CorruptEntry:
            self._count("corrupt")
        if entry is None:
            entry = self.fetch_entry(result_key, expected_outputs)
            if entry is None:
                return None
            served_by = self.last_tier  # the tier of the entry, if it was not local
        if candidate is not None:
            added = store.add_to_manifest(cache_dir, base_key, candidate)
            self._add_to_shard(base_key, result_key, added)
        self._count("remote_hits")
        self._count(f"remote_tier{min(served_by + 1, counters.COUNTED_TIERS)}_hits")
        return result_key, entry

    def fetch_entry(self, key: str, expected_outputs: list[str]) -> store.Entry | None:
        """The entry named key from the remote, checked (signature, checksum, format,
        output names) and saved in the local tier; None on a miss or a bad value. A
        C/C++ object's key names its entry directly (no manifest), so its lookup is
        this alone (c_family/compile.py), which counts the hit once it is restored."""
        cache_dir = self.config.cache_dir
        data = self._get(key + ".entry")
        if data is None:
            return None
        try:
            entry = store.Entry.decode(data)
            if sorted(name for name, _, _ in entry.outputs) != sorted(expected_outputs):
                raise store.CorruptEntry("outputs are not this compile's")
            _check_digests(entry)
        except store.CorruptEntry:
            self._count("remote_corrupt")
            return None
        added_bytes, added_files = store._save(
            cache_dir, store.path_for(cache_dir, key, "entry"), [data]
        )
        self._count("bytes", added_bytes)
        self._count("files", added_files)
        return entry

    def _add_to_shard(self, base_key: str, result_key: str, added: tuple[int, int]) -> None:
        """The manifest's size goes to its own shard's counters (as miss.py does)."""
        if store.shard_of(base_key) == store.shard_of(result_key):
            self._count("bytes", added[0])
            self._count("files", added[1])
            return
        try:
            counters.update_shard(
                self.config.cache_dir,
                store.shard_of(base_key),
                {"bytes": added[0], "files": added[1]},
            )
        except OSError:
            pass  # the next cleanup recounts the shard from the disk

    def keep_helper(self) -> None:
        """Make sure a helper is listening, starting one if need be, before a background
        store (which may not start one: remote/client.py) uploads through it. The one
        the lookup used may have gone since (idle exit during a long compile, `helper
        stop`). A connection, only where uploads can go."""
        if self.writable and self.usable:
            self._ask({"op": "ping"})

    def upload(self, base_key: str, result_key: str) -> None:
        """Queue the stored entry and the merged manifest on the helper."""
        if not self.writable or not self.usable:
            return
        cache_dir = self.config.cache_dir
        entry_data = store.read_file(store.path_for(cache_dir, result_key, "entry"))
        try:
            local = store.load_manifest(cache_dir, base_key)
        except store.CorruptEntry:
            local = []
        if entry_data is None or not local:
            return  # evicted already, or never written: nothing consistent to send
        known = {result for _, _, result in local}
        merged = local + [c for c in self.remote_candidates if c[2] not in known]
        manifest_data = b"".join(
            store._seal(store.MANIFEST_MAGIC, merged[: store.MAX_MANIFEST_CANDIDATES], [])
        )
        key = self.config.signing_key
        items = [
            (result_key + ".entry", sign(key, result_key + ".entry", entry_data)),
            (base_key + ".manifest", sign(key, base_key + ".manifest", manifest_data)),
        ]
        self._ask({"op": "put", "items": items})

    def upload_object(self, key: str) -> None:
        """Queue a stored C/C++ object's entry on the helper (it has no manifest)."""
        if not self.writable or not self.usable:
            return
        data = store.read_file(store.path_for(self.config.cache_dir, key, "entry"))
        if data is None:
            return  # evicted already
        name = key + ".entry"
        self._ask({"op": "put", "items": [(name, sign(self.config.signing_key, name, data))]})

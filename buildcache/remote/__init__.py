"""Remote tiers: caches beyond this machine (Redis, HTTP), behind a storage helper.

The wrapper stays stdlib-only: `client.py` speaks a small framed protocol over a Unix
socket to `helper.py`, a long-running process of the same user that holds the storage
clients (redis-py, urllib3) and their pooled connections, and uploads in the
background. Everything the wrapper imports from here is stdlib-only; `helper.py` and
`backends.py` are the only modules that import third-party libraries.
"""

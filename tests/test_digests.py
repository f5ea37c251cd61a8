"""buildcache/cache/digests.py: two SHA-256 implementations, one set of digests.

Each case runs in a fresh interpreter started as the fast launcher starts one
(-I -S), where OpenSSL is not loaded yet: in pytest's own process it already is,
and every digest would come from it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import buildcache
from buildcache.cache import digests

PACKAGE_PARENT = str(Path(buildcache.__file__).resolve().parent.parent)


def in_fresh_python(code: str) -> dict[str, object]:
    """Run code (which sets `result`) in a fresh `python -I -S`; return result."""
    program = (
        f"import sys, json; sys.path.append({PACKAGE_PARENT!r})\n"
        "from buildcache.cache import digests\n"
        f"{code}\n"
        "print(json.dumps(result))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def reference_text_digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        hasher.update(len(data).to_bytes(8, "little") + data)
    return hasher.hexdigest()


def test_small_inputs_do_not_load_openssl_and_digest_the_same() -> None:
    result = in_fresh_python(
        "result = {'text': digests.text_digest('a', 'bc'),\n"
        "          'small': digests.sha256(b'x' * 1000).hexdigest(),\n"
        "          'view': digests.sha256(memoryview(b'y' * 5000)).hexdigest(),\n"
        "          'openssl': '_hashlib' in sys.modules}"
    )
    assert result == {
        "text": reference_text_digest("a", "bc"),
        "small": hashlib.sha256(b"x" * 1000).hexdigest(),
        "view": hashlib.sha256(b"y" * 5000).hexdigest(),
        "openssl": False,
    }


@pytest.mark.parametrize("chunks", [[3000] * 100, [digests.BUILTIN_BUDGET + 1], [0]])
def test_past_the_budget_openssl_takes_over_with_the_same_digests(chunks: list[int]) -> None:
    """Many small inputs, one big one, or a hasher fed later (size unknown: assumed big)."""
    result = in_fresh_python(
        f"chunks = {chunks!r}\n"
        "out = []\n"
        "for index, size in enumerate(chunks):\n"
        "    data = bytes([index % 256]) * size\n"
        "    if size:\n"
        "        out.append(digests.sha256(data).hexdigest())\n"
        "    else:\n"
        "        hasher = digests.sha256()\n"
        "        hasher.update(b'later')\n"
        "        out.append(hasher.hexdigest())\n"
        "result = {'digests': out, 'openssl': '_hashlib' in sys.modules}"
    )
    expected = [
        hashlib.sha256(bytes([index % 256]) * size if size else b"later").hexdigest()
        for index, size in enumerate(chunks)
    ]
    assert result == {"digests": expected, "openssl": True}


def test_file_digest_matches_in_both_implementations(tmp_path: Path) -> None:
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"s" * 100)
    big.write_bytes(b"b" * (digests.BUILTIN_BUDGET * 2))
    result = in_fresh_python(
        f"small = digests.file_digest({str(small)!r})\n"
        "before = '_hashlib' in sys.modules\n"
        f"big = digests.file_digest({str(big)!r})\n"
        "result = [small, before, big, '_hashlib' in sys.modules]"
    )
    assert result == [
        hashlib.sha256(small.read_bytes()).hexdigest(),
        False,
        hashlib.sha256(big.read_bytes()).hexdigest(),
        True,
    ]

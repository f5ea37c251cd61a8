"""The remote-tier clients are declared once in pyproject's `remote` extra; the
Makefile's wheelhouse and the Ansible role must install the same specs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test venv of older Pythons
    tomllib = None


def remote_extra() -> list[str]:
    text = (REPO / "pyproject.toml").read_text()
    if tomllib is not None:
        return list(tomllib.loads(text)["project"]["optional-dependencies"]["remote"])
    match = re.search(r"^remote = \[(.*)\]$", text, re.MULTILINE)
    assert match
    return re.findall(r'"([^"]+)"', match.group(1))


def test_the_makefile_wheelhouse_downloads_the_remote_extra() -> None:
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^REMOTE_EXTRA_SPEC \?= (.*)$", makefile, re.MULTILINE)
    assert match, "REMOTE_EXTRA_SPEC not found in the Makefile"
    assert match.group(1).split() == remote_extra()


def test_the_role_installs_the_remote_extra() -> None:
    defaults = yaml.safe_load((REPO / "ansible/roles/buildcache/defaults/main.yml").read_text())
    assert defaults["buildcache_remote_packages"] == remote_extra()


def test_make_dev_installs_the_remote_extra() -> None:
    assert "'.[test,lint,remote]'" in (REPO / "Makefile").read_text()

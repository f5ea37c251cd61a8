"""Class 8 (bookkeeping), the size cap: the Ansible role and buildcache must agree on it.

The role checks `buildcache_max_size` before it writes `BUILDCACHE_MAX_SIZE = <value>`
into buildcache.conf. A value the role accepts but buildcache rejects makes every rustc
call warn and build uncached from then on (and `buildcache doctor` fail); a value the
role rejects but buildcache accepts is a needless refusal. So, for each value, the
role's own check (its assert task from tasks/main.yml, run by ansible-playbook) and
buildcache reading the config line the role would write must give the same answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from correctness_helpers import buildcache, clean_env

ROLE_TASKS = Path(__file__).resolve().parents[2] / "ansible/roles/buildcache/tasks/main.yml"

VALUES = [
    "10G",
    "1.5G",
    "10GiB",
    "10gb",
    "1M",
    "1T",
    "1048576",
    "512K",
    "100",
    "10B",
    "0",
    "0G",
    "1KB",
    "1048575",
    ".5G",
    "5.G",
    "1e3G",
    "1_0G",
    "10 G",
    "TB",
]


def size_check_task() -> dict[str, object]:
    tasks = yaml.safe_load(ROLE_TASKS.read_text())
    for task in tasks:
        if "buildcache_max_size" in json.dumps(task.get("ansible.builtin.assert", {})):
            return task  # type: ignore[no-any-return]
    raise AssertionError(f"test bug: no assert on buildcache_max_size in {ROLE_TASKS}")


@pytest.fixture(scope="module")
def role_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """value -> whether the role's size check accepts it (run by ansible itself)."""
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists():
        pytest.skip("ansible-playbook is not installed in this virtualenv")
    base = tmp_path_factory.mktemp("role-size")
    task = dict(size_check_task())
    task["vars"] = {"buildcache_max_size": "{{ item }}"}
    task["loop"] = VALUES
    task["ignore_errors"] = True
    task["register"] = "size_checks"
    results = base / "results.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                task,
                {
                    "ansible.builtin.copy": {
                        "dest": str(results),
                        "content": "{{ size_checks.results | map(attribute='failed', "
                        "default=false) | list | to_json }}",
                    }
                },
            ],
        }
    ]
    playbook = base / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = {
        **os.environ,
        "HOME": str(base / "home"),
        "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        # The role's check uses the kit's collection (buildcache's own size parser).
        "ANSIBLE_COLLECTIONS_PATH": str(ROLE_TASKS.parents[3] / "collections"),
    }
    run = subprocess.run(
        [str(playbook_bin), "-i", "localhost,", "-c", "local", str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert results.exists(), f"test bug: ansible-playbook failed:\n{run.stdout}\n{run.stderr}"
    failed = json.loads(results.read_text())
    return {value: not failed_ for value, failed_ in zip(VALUES, failed)}


def buildcache_accepts(value: str, tmp_path: Path) -> bool:
    """Does buildcache accept the config file the role writes for value?"""
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    Path(env["BUILDCACHE_CONFIG"]).write_text(
        f"BUILDCACHE_DIR = {tmp_path / 'cache'}\nBUILDCACHE_MAX_SIZE = {value}\n"
    )
    result = buildcache("config", env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


@pytest.mark.parametrize("value", VALUES)
def test_the_role_and_buildcache_agree_on_a_size(
    role_verdicts: dict[str, bool], tmp_path: Path, value: str
) -> None:
    role = role_verdicts[value]
    python = buildcache_accepts(value, tmp_path)
    word = {True: "accepts", False: "rejects"}
    assert role == python, (
        f"buildcache_max_size={value!r}: the Ansible role {word[role]} it, "
        f"buildcache {word[python]} the config line the role writes"
    )

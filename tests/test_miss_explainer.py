from __future__ import annotations

from pathlib import Path

from buildcache.cache.journal import read_journal, record_inputs
from buildcache.reports.miss_explainer import crates_by_recent_miss, differences, explain_crate

INPUTS = {
    "format": "v1",
    "rustc": "r1",
    "args": ["--crate-name foo", "-C opt-level=0"],
    "env": ["CARGO_PKG_VERSION=0.1.0"],
    "externs": [("bar", "key:abc")],
    "native": [],
    "cwd": "/work/a",
}


def record(**changes: object) -> dict[str, object]:
    inputs = {**INPUTS, **{k: v for k, v in changes.items() if k in INPUTS}}
    return {
        "time": changes.get("time", 1.0),
        "key": changes.get("key", "k"),
        "inputs": inputs,
        "files": changes.get("files", [("src/lib.rs", "d1")]),
        "env_deps": changes.get("env_deps", [("FOO", "1")]),
    }


def test_the_journal_is_rewritten_in_place(tmp_path: Path) -> None:
    cache = str(tmp_path)
    record_inputs(cache, "foo", "k1", INPUTS, [("src/lib.rs", "d1")], [])
    journal = tmp_path / "crates" / "foo.journal"
    inode = journal.stat().st_ino
    record_inputs(cache, "foo", "k2", INPUTS, [("src/lib.rs", "d2")], [])
    assert journal.stat().st_ino == inode
    assert [r["key"] for r in read_journal(cache, "foo")] == ["k2", "k1"]


def test_identical_records_have_no_differences() -> None:
    assert differences(record(), record()) == []


def test_each_kind_of_input_is_named() -> None:
    new = record(
        rustc="r2",
        args=["--crate-name foo", "-C opt-level=3"],
        env=["CARGO_PKG_VERSION=0.2.0"],
        externs=[("bar", "key:def")],
        files=[("src/lib.rs", "d2"), ("src/new.rs", "d3")],
        env_deps=[("FOO", "2")],
        cwd="/work/b",
    )
    found = {(d["kind"], d["name"], d["change"]) for d in differences(record(), new)}
    assert found == {
        ("rustc", "rustc -vV / sysroot", "changed"),
        ("argument", "-C opt-level=0", "removed"),
        ("argument", "-C opt-level=3", "added"),
        ("env", "CARGO_PKG_VERSION", "changed"),
        ("extern", "bar", "changed"),
        ("source", "src/lib.rs", "changed"),
        ("source", "src/new.rs", "added"),
        ("env", "FOO", "changed"),
        ("cwd", "working directory", "changed"),
    }


def test_a_c_object_names_its_compiler_and_its_preprocessed_source() -> None:
    def c_record(plan: str, text: str) -> dict[str, object]:
        inputs = {"driver_plan": plan, "preprocessed": text, "source": "x.c", "cwd": "/w"}
        return {"time": 1.0, "key": "k", "inputs": inputs, "files": [], "env_deps": []}

    assert differences(c_record("gcc-12 cc1 abc", "t1"), c_record("gcc-12 cc1 abc", "t1")) == []
    found = differences(c_record("gcc-12 cc1 abc", "t1"), c_record("gcc-13 cc1 def", "t2"))
    assert [item["kind"] for item in found] == ["compiler", "source"]
    assert "x.c after preprocessing" in str(found[1]["name"])


def test_explain_compares_with_the_nearest_earlier_record(tmp_path: Path) -> None:
    cache = str(tmp_path)
    record_inputs(cache, "foo", "k1", {**INPUTS, "rustc": "old"}, [("src/lib.rs", "a")], [])
    record_inputs(cache, "foo", "k2", INPUTS, [("src/lib.rs", "b")], [])
    record_inputs(cache, "foo", "k3", INPUTS, [("src/lib.rs", "c")], [])
    (answer,) = explain_crate(cache, "foo")
    assert answer["key"] == "k3" and answer["compared_to"]["key"] == "k2"  # type: ignore[index]
    assert answer["differences"] == [{"kind": "source", "name": "src/lib.rs", "change": "changed"}]
    assert len(read_journal(cache, "foo")) == 3


def test_a_first_build_and_an_unknown_crate_are_said_as_such(tmp_path: Path) -> None:
    record_inputs(str(tmp_path), "solo", "k", INPUTS, [], [])
    (answer,) = explain_crate(str(tmp_path), "solo")
    assert answer["first_build"] is True
    assert explain_crate(str(tmp_path), "never") == []
    assert crates_by_recent_miss(str(tmp_path)) == ["solo"]

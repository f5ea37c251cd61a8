"""The README and docs/ against the code they describe.

The README stays short enough to read on a screen or two; the reference lives in docs/.
These checks catch what drifts silently: a link to a moved file or heading, a command
missing from the README's table, a setting nobody documented, a make target that is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from buildcache.commands import COMMAND_NAMES

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
# Issue 10: a README that fits on a screen or two.
README_MAX_LINES = 150

INLINE_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """Markdown without fenced blocks and code spans, where links are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def code(text: str) -> list[str]:
    """The fenced blocks and code spans of a Markdown text."""
    fenced = [m.group(0) for m in FENCE.finditer(text)]
    return fenced + CODE_SPAN.findall(FENCE.sub("", text))


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped,
    spaces to hyphens, and -1, -2... on repeats."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def markdown_anchors(path: Path) -> set[str]:
    return heading_anchors(path.read_text(encoding="utf-8"))


def relative_links(path: Path) -> list[str]:
    links = INLINE_LINK.findall(prose(path.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_the_readme_fits_on_a_screen_or_two() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move reference material to docs/"
    )


def test_there_are_docs_to_check() -> None:
    assert DOCS, "docs/*.md not found"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_an_existing_file_and_heading(path: Path) -> None:
    broken = []
    for link in relative_links(path):
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{link}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in markdown_anchors(file):
            broken.append(f"{link}: no heading with anchor #{anchor} in {file.name}")
    assert not broken, f"broken links in {path.relative_to(REPO)}: {broken}"


def test_the_link_checker_sees_links_and_anchors() -> None:
    """Guard against a regex that finds nothing and so passes everything."""
    assert "docs/how-it-works.md" in relative_links(README)
    assert "buildcache-config---json" in heading_anchors("## `buildcache config [--json]`\n")
    assert {"a", "a-1"} <= heading_anchors("# A\n## A\n")


def test_every_command_is_in_the_readme_command_table() -> None:
    table_rows = [
        line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")
    ]
    listed = {
        match.group(1)
        for row in table_rows
        if (match := re.match(r"\|\s*`buildcache ([a-z-]+)", row))
    }
    missing = set(COMMAND_NAMES) - listed
    assert not missing, f"commands missing from README.md's command table: {sorted(missing)}"


def config_variables() -> set[str]:
    source = (REPO / "buildcache" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r"\bBUILDCACHE_[A-Z_]*[A-Z]\b", source))


def test_every_config_variable_is_documented_in_docs() -> None:
    variables = config_variables()
    assert {"BUILDCACHE_DIR", "BUILDCACHE_MAX_SIZE"} <= variables  # the grep still works
    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
    undocumented = sorted(name for name in variables if f"`{name}" not in docs)
    assert not undocumented, (
        f"read in buildcache/config.py, not documented in docs/: {undocumented}"
    )


def phony_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    lines = re.findall(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    return {target for line in lines for target in line.split()}


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(REPO)))
def test_every_make_target_mentioned_exists(path: Path) -> None:
    mentioned = {
        target
        for snippet in code(path.read_text(encoding="utf-8"))
        for target in re.findall(r"(?<![\w-])make ([a-z][\w-]*)", snippet)
    }
    if path == README:
        assert {"provision", "test"} <= mentioned, "the quick start's two commands"
    unknown = sorted(mentioned - phony_targets())
    assert not unknown, (
        f"{path.relative_to(REPO)} mentions make targets the Makefile lacks: {unknown}"
    )

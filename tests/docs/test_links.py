"""Every relative link of README.md and docs/**/*.md reaches a file, and every `#anchor` a heading.

Anchors are GitHub's: the heading's text in lower case, punctuation dropped, spaces as hyphens. A
section moved from one document to another breaks the links that pointed at it; this finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*```")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _prose(path: Path) -> list[str]:
    """The document's lines outside code fences."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(match["title"]) for line in _prose(path) if (match := _HEADING.match(line))}


def links(path: Path) -> list[str]:
    found = []
    for line in _prose(path):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        found += [match["target"] for match in _LINK.finditer(line)]
    return found


def broken_links(doc: Path) -> list[str]:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


DOCUMENTS = documents()


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[doc.relative_to(ROOT).as_posix() for doc in DOCUMENTS])
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    broken = broken_links(doc)
    assert not broken, f"{doc.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_checker_finds_a_moved_section(tmp_path: Path) -> None:
    (tmp_path / "auth.md").write_text("# Authentication\n\n## TLS\n\ntext\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n## Quick start\n\n[ok](auth.md#tls) [moved](#tls) [gone](jobs.md) [here](#quick-start)\n"
        "```text\n[not a link](#nowhere)\n```\n"
    )
    assert broken_links(readme) == ["#tls: no heading #tls in README.md", "jobs.md: no such file"]
    assert slug("Client certificates (mTLS)") == "client-certificates-mtls"
    assert slug("pyarrow.flight and the CLI") == "pyarrowflight-and-the-cli"

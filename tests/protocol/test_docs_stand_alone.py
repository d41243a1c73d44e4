"""The repository stands alone: the protocol notes the code cites are in docs/, every citation names a section that
exists there, and no file sends a reader outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
# Where the repository's own text lives (dependencies, caches and data stay out).
SOURCES = ("capture_agent", "simulator", "vectra_pipeline", "tests", "docs", "scripts", "benchmarks", ".ci")
SUFFIXES = {".py", ".md", ".js", ".html", ".c", ".sh", ".toml", ".txt", ""}
# realdata.py reads the real captures beside the repository when present (else the fixtures); this module names the
# patterns it looks for.
EXEMPT = {REPO / "tests" / "realdata.py", Path(__file__).resolve()}
OUTSIDE = re.compile(r"\.\./shared|/work/shared|\.\./protocol/")
CITATION = re.compile(r"\b(PROTOCOL|TRAPS)\.md((?:\s*[,;–-]?\s*§\d+(?:\.\d+)?)+)")


def _text_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "pyproject.toml"]
    for top in SOURCES:
        files += [p for p in (REPO / top).rglob("*") if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts]
    return files


def _sections(doc: Path) -> set[str]:
    """The section numbers a citation may name: ``## N.`` and ``### N.M`` headings, and the numbered items
    ``M.`` of section N (TRAPS.md numbers its traps that way)."""
    sections: set[str] = set()
    current = None
    for line in doc.read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"##\s+(\d+)\.\s", line):
            current = heading.group(1)
            sections.add(current)
        elif sub := re.match(r"###\s+(\d+\.\d+)\s", line):
            sections.add(sub.group(1))
        elif current and (item := re.match(r"(\d+)\.\s", line)):
            sections.add(f"{current}.{item.group(1)}")
    return sections


def _own_header_or_quoted_readme(path: Path, line: str) -> bool:
    """The copied files' own provenance: the first lines say where they come from, and the captures' README
    (copied as it is) keeps its original relative links under a header that translates them."""
    return path.parent == DOCS and line.startswith("> Copied") or path.name == "README.md" and "protocol-real" in path.parts


def test_the_protocol_notes_are_in_the_repository_and_say_where_they_come_from():
    for name in ("PROTOCOL.md", "TRAPS.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        assert text.startswith("> Copied unchanged from"), name
        assert len(_sections(DOCS / name)) >= 6, name  # the whole notes, not a stub


def test_every_citation_names_a_section_of_the_notes_in_docs():
    sections = {name: _sections(DOCS / f"{name}.md") for name in ("PROTOCOL", "TRAPS")}
    cited, wrong = 0, []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            for number in re.findall(r"§(\d+(?:\.\d+)?)", match.group(2)):
                cited += 1
                if number not in sections[match.group(1)]:
                    wrong.append(f"{path.relative_to(REPO)}: {match.group(1)}.md §{number}")
    assert not wrong, f"citations of sections that docs/ does not have: {wrong}"
    assert cited >= 50  # the code does cite them: the check is not vacuous


def test_no_file_sends_a_reader_outside_the_repository():
    outside = []
    for path in _text_files():
        if path in EXEMPT:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and not _own_header_or_quoted_readme(path, line):
                outside.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    assert not outside, "point these at docs/PROTOCOL.md / docs/TRAPS.md (or the committed captures):\n" + "\n".join(outside)

"""The README and docs/: the README stays a short map (under 250 lines, the two commands CI runs), and every
relative link of README.md and docs/*.md points at a file (and, with an anchor, at a heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roundtrip.report import reports

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(`{3,}|~{3,})")


def prose(text: str) -> str:
    """The text outside fenced code blocks (a fence closes with a fence of at least its length)."""
    kept, fence = [], ""
    for line in text.splitlines():
        found = FENCE.match(line.strip())
        if found and (not fence or (found.group(1)[0] == fence[0] and len(found.group(1)) >= len(fence))):
            fence = "" if fence else found.group(1)
            continue
        if not fence:
            kept.append(line)
    return "\n".join(kept)


def code_blocks(text: str, language: str) -> list[list[str]]:
    """The lines of each fenced block opened as ```language."""
    blocks: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if not inside and line.strip() == f"```{language}":
            inside, block = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append(block)
        elif inside:
            block.append(line)
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in prose(page.read_text()).splitlines() if re.match(r"#{1,6} ", line)}


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"[a-z]+:", t)]


def test_the_readme_is_under_250_lines() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines"


def test_the_readme_gives_exactly_the_two_commands_and_ci_runs_the_second() -> None:
    blocks = code_blocks(README.read_text(), "sh")
    commands = [line.split("#")[0].strip() for line in blocks[0] if line.strip()]
    assert commands == ["make fuzz", "make test"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == "make test"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert set(PAGES[1:]) <= linked, sorted(p.name for p in set(PAGES[1:]) - linked)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_points_at_an_existing_file_and_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, broken


def test_the_corpus_page_holds_the_table_between_one_pair_of_markers() -> None:
    """`roundtrip report --table docs/corpus.md` writes between the first start marker and the end after it."""
    text = (ROOT / "docs" / "corpus.md").read_text()
    start, end = reports.TABLE_MARKERS
    assert text.count(start) == 1 and text.count(end) == 1
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert re.match(r"\n\d+ entries: \d+ bugs, ", table), table[:80]

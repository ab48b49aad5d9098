"""Relative links between the docs point at files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_FENCED = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = _FENCED.sub("", page.read_text(encoding="utf-8"))
    return {slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


LINKS = [
    (page, m["target"])
    for page in PAGES
    for m in _LINK.finditer(_FENCED.sub("", page.read_text(encoding="utf-8")))
    if not re.match(r"[a-z]+:", m["target"])
]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_link_resolves(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    assert destination.exists(), f"{page.name}: {target} does not exist"
    if anchor and destination.suffix == ".md":
        assert anchor in anchors(destination), f"{page.name}: no heading #{anchor} in {path}"


def test_slug_matches_github() -> None:
    assert slug("3. A hang-up strategy") == "3-a-hang-up-strategy"
    assert slug("Decisions, and where they depart from DESIGN.md") == (
        "decisions-and-where-they-depart-from-designmd"
    )
    assert slug("`bwserial_codecs`") == "bwserial_codecs"

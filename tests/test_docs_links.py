"""Every ``docs/kling-api.md#<anchor>`` cited in the repository names a heading of that page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / "docs" / "kling-api.md"
CITATION = re.compile(r"docs/kling-api\.md#([A-Za-z0-9_-]+)")
# The former out-of-tree contract file; spelled in two parts so this file does not cite it.
OLD_CONTRACT = "KLING_API" + ".md"
CITING_SUFFIXES = (".py", ".md", ".sh")
TEXT_SUFFIXES = (*CITING_SUFFIXES, ".toml", ".in", ".cfg", ".txt", ".yaml", ".yml", ".json", ".ini")
SKIPPED_DIRS = {"build", "dist", "artifacts", "node_modules", "__pycache__"}


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def heading_anchors(markdown: str) -> list[str]:
    """Anchors of the page's headings in order, with GitHub's ``-1``, ``-2`` for repeated ones."""
    anchors: list[str] = []
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            base = github_anchor(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.append(base if count == 0 else f"{base}-{count}")
    return anchors


def repo_files(suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any(p.startswith(".") or p in SKIPPED_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            continue
        if path.is_file() and path.name.endswith(suffixes):
            yield path


def test_github_anchor_matches_githubs_rules() -> None:
    assert github_anchor("Error codes") == "error-codes"
    assert github_anchor("Webhook Signature") == "webhook-signature"
    assert github_anchor("`GET /account/costs` (v1)") == "get-accountcosts-v1"
    assert heading_anchors("## A\n```\n## not a heading\n```\n### A\n") == ["a", "a-1"]


def test_the_contract_page_has_unique_anchors() -> None:
    anchors = heading_anchors(CONTRACT.read_text(encoding="utf-8"))
    assert len(anchors) == len(set(anchors))
    for needed in ("concurrency", "error-codes", "callbacks", "webhook-signature", "open-points"):
        assert needed in anchors


def test_every_cited_anchor_exists() -> None:
    anchors = set(heading_anchors(CONTRACT.read_text(encoding="utf-8")))
    cited: dict[str, list[str]] = {}
    for path in repo_files(CITING_SUFFIXES):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for anchor in CITATION.findall(line):
                cited.setdefault(anchor, []).append(f"{path.relative_to(REPO)}:{number}")
    assert cited, "no file cites docs/kling-api.md#...: the scan is broken"
    missing = {anchor: where for anchor, where in cited.items() if anchor not in anchors}
    assert not missing, f"cited anchors with no heading in docs/kling-api.md: {missing}"


def test_the_contract_pages_own_links_resolve() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    anchors = set(heading_anchors(text))
    links = set(re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text))
    assert links and links <= anchors, sorted(links - anchors)


def test_nothing_cites_the_out_of_tree_contract() -> None:
    stale = [
        f"{path.relative_to(REPO)}:{number}"
        for path in repo_files(TEXT_SUFFIXES)
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OLD_CONTRACT in line
    ]
    assert not stale, f"cite docs/kling-api.md#<anchor> instead of {OLD_CONTRACT}: {stale}"


def test_the_sdist_ships_the_contract() -> None:
    manifest = (REPO / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    assert "graft docs" in [line.strip() for line in manifest]

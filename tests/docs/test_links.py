"""The user docs name files that exist: links and repository paths in README.md and docs/ resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Dated notebooks describe the code as it was; they may name files since removed.
HISTORY = ROOT / "docs" / "experiments"
PREFIXES = ("docs/", "examples/", "scripts/", "weights/", "datasets/", "inspector/", "training/",
            "tests/")
_ALTERNATIVES = "|".join(re.escape(p) for p in PREFIXES)
CODE_PATH = re.compile(rf"`((?:{_ALTERNATIVES})[^`\s]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in pages if HISTORY not in p.parents]


def _is_pattern(path: str) -> bool:
    """A path with a placeholder (`weights/NAME`, `<dir>`, `*`, `{x}`) or an MQTT topic filter
    (`inspector/events/#`) names no one file."""
    return bool(re.search(r"[*<>{}#+]|\b[A-Z]{3,}\b|\.\.\.", path))


def missing_paths(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    missing = []
    for raw in CODE_PATH.findall(text):
        path = raw.split(":")[0].rstrip(".,;")
        if not _is_pattern(path) and not (ROOT / path).exists():
            missing.append(path)
    for target in LINK.findall(text):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        path = target.split("#")[0]
        if path and not (page.parent / path).exists():
            missing.append(target)
    return missing


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_files_exist(page):
    assert missing_paths(page) == [], f"{page.relative_to(ROOT)} names files that do not exist"


def test_a_missing_file_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See `docs/no-such-guide.md` and [this](gone.md), not `weights/NAME`.\n")
    assert missing_paths(page) == ["docs/no-such-guide.md", "gone.md"]

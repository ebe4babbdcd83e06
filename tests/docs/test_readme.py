"""The README opens with the two commands a new user runs, then points to the guides."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_make_demo_and_make_test_then_the_guides():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
    after = text[first_block.end():]
    guides = after[:after.index("\n## ")] if "\n## " in after else after
    for guide in ("docs/station-setup.md", "docs/configuration.md", "docs/training.md",
                  "docs/operations.md"):
        assert f"]({guide})" in guides, guide

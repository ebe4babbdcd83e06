"""What counts as a missing parameter value: empty, null, NaN and the usual spreadsheet markers."""

from __future__ import annotations

import math
from typing import Any

# the markers pandas reads as NA by default (compared case-insensitively, trimmed)
MISSING_TEXT = frozenset({
    "", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
    "n/a", "na", "null", "nan", "none",
})


def is_missing(value: Any) -> bool:
    """True for None, NaN and text such as '', 'n/a', 'NaN', 'NULL' (a cell left empty)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TEXT
    return False


def without_missing(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters whose values are not missing."""
    return {name: value for name, value in parameters.items() if not is_missing(value)}

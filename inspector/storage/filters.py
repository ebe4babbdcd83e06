"""InspectionFilter: which inspections a list, page walk or CSV export covers, as SQL clauses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.tables import inspections
from inspector.storage.upstream import Upstream


class ReviewState(enum.StrEnum):
    """Whether a human has labelled the part (`reviewed_at` set) or not."""

    REVIEWED = "reviewed"
    UNREVIEWED = "unreviewed"


@dataclass(frozen=True)
class InspectionFilter:
    """Conditions that all must hold; None means "any". `since` inclusive, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    station_id: str | None = None
    serial: str | None = None
    verdict: Verdict | str | None = None
    label: str | None = None
    model_version: str | None = None
    review: ReviewState | str | None = None
    upstream: tuple[Upstream | str, ...] = ()  # conditions on the part's process events

    def clauses(self) -> list[Any]:
        """SQLAlchemy WHERE clauses over the inspections table; StoreError on a bad value."""
        cols = inspections.c
        found: list[Any] = []
        if self.since is not None:
            found.append(cols.inspected_at >= aware("since", self.since))
        if self.until is not None:
            found.append(cols.inspected_at < aware("until", self.until))
        if self.verdict is not None:
            found.append(cols.verdict == verdict_value(self.verdict))
        for name in ("station_id", "serial", "label", "model_version"):
            value = getattr(self, name)
            if value is not None:
                found.append(cols[name] == _text(name, value))
        if self.review is not None:
            reviewed = _review(self.review) is ReviewState.REVIEWED
            found.append(cols.reviewed_at.is_not(None) if reviewed else cols.reviewed_at.is_(None))
        for condition in self.upstream:
            up = condition if isinstance(condition, Upstream) else Upstream.parse(condition)
            found.append(up.clause())
        return found


def aware(name: str, value: datetime) -> datetime:
    """`value` itself when it is a timezone-aware datetime, else StoreError."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def verdict_value(value: Verdict | str) -> str:
    try:
        return Verdict(value).value
    except ValueError as exc:
        allowed = ", ".join(v.value for v in Verdict)
        raise StoreError(f"verdict must be one of {allowed}, got {value!r}") from exc


def _review(value: ReviewState | str) -> ReviewState:
    try:
        return ReviewState(value)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in ReviewState)
        raise StoreError(f"review must be one of {allowed}, got {value!r}") from exc


def _text(name: str, value: Any) -> str:
    # PostgreSQL refuses NUL in text: say so here instead of failing as a database error.
    if not isinstance(value, str) or "\x00" in value:
        raise StoreError(f"{name} must be text without NUL characters, got {value!r}")
    return value

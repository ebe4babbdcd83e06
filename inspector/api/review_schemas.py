"""Schemas of the review routes: the queue, a review and what it recorded."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from inspector.api.filters import PRINTABLE
from inspector.api.schemas import InspectionPublic


class ReviewQueuePublic(BaseModel):
    """Unreviewed parts: REVIEW, then NG, then sampled OK; oldest first within each.
    Pass `next_cursor` back as `cursor` for the next page."""

    items: list[InspectionPublic]
    count: int
    next_cursor: str | None


class ReviewCreate(BaseModel):
    label: str = Field(min_length=1, max_length=64, pattern=PRINTABLE, description=(
        "The part's true class: one of the active model's classes or a class seen in stored rows."))
    note: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$",
                             description="Free text (any characters but NUL).")


class ReviewPublic(BaseModel):
    """What was recorded for the part."""

    part_id: str
    verdict: str = Field(description="The verdict the line was told (unchanged).")
    label: str | None = Field(description="The model's label (unchanged).")
    review_label: str
    reviewed_by: str
    reviewed_at: datetime
    review_note: str | None

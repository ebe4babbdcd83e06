"""Response schema of the image uploads a station sends its central service."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UploadPublic(BaseModel):
    part_id: str
    what: str = Field(description="image or heatmap.")
    bytes: int
    path: str = Field(description="Where it is kept, relative to the central image folder.")
    written: bool = Field(description="False when the same file was there already.")

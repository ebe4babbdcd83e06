"""Pydantic config models of the serial readers, discriminated on `type`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CodeFormat = Literal["datamatrix", "qr", "code128"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regex(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class Region(_Strict):
    """A rectangle given as fractions of the frame, so it survives a resolution change."""

    x: float = Field(0.0, ge=0.0, lt=1.0, description="Left edge, fraction of frame width.")
    y: float = Field(0.0, ge=0.0, lt=1.0, description="Top edge, fraction of frame height.")
    w: float = Field(1.0, gt=0.0, le=1.0, description="Width, fraction of frame width.")
    h: float = Field(1.0, gt=0.0, le=1.0, description="Height, fraction of frame height.")

    @model_validator(mode="after")
    def _inside(self) -> Region:
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise ValueError("region must lie inside the frame (x + w <= 1 and y + h <= 1)")
        return self

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) of this region in a width x height frame, never empty."""
        x0, y0 = int(self.x * width), int(self.y * height)
        x1 = max(x0 + 1, min(width, round((self.x + self.w) * width)))
        y1 = max(y0 + 1, min(height, round((self.y + self.h) * height)))
        return x0, y0, x1, y1


class CodeReaderConfig(_Strict):
    """Decode DataMatrix / QR / Code 128 codes printed on the part, with zxing-cpp."""

    type: Literal["code"] = Field("code", description="Serial from a code in the frame.")
    formats: list[CodeFormat] = Field(
        default_factory=lambda: ["datamatrix"], min_length=1,
        description="Code symbologies to look for; fewer formats decode faster.",
    )
    roi: Region | None = Field(
        None, description="Only search this part of the frame (fractions); several times faster."
    )
    pattern: str | None = Field(
        None, description="Regex a code's text must match in full to count as the serial "
        "(use it to ignore other codes, e.g. '^SN-\\d{8}$')."
    )
    pick_region: Region | None = Field(
        None, description="When several codes match, keep those whose centre lies in this region."
    )
    on_multiple: Literal["no_read", "largest", "top_left"] = Field(
        "no_read", description="Several different matching codes left: give up (no_read, never a "
        "wrong serial), take the largest, or the top-left one."
    )
    try_rotate: bool = Field(True, description="Also search 90/180/270-degree rotated 1D codes.")
    try_invert: bool = Field(False, description="Also look for light-on-dark codes.")
    try_downscale: bool = Field(True, description="Also search downscaled copies (large codes).")
    try_harder: bool = Field(
        True, description="When the fast pass finds nothing, retry with denoised, turned, "
        "upscaled and contrast-stretched copies (costs time on hard and missing codes only)."
    )
    harder_budget_ms: float = Field(
        150.0, gt=0.0, description="Stop the try_harder passes once this much time is spent, "
        "so a part without a code cannot stall the station."
    )

    @field_validator("pattern")
    @classmethod
    def _pattern_ok(cls, value: str | None) -> str | None:
        return _check_regex(value)


class TriggerReaderConfig(_Strict):
    """The serial arrives with the external trigger (PLC / MES message)."""

    type: Literal["trigger"] = Field("trigger", description="Serial handed over by the trigger.")
    pattern: str | None = Field(
        None, description="Regex the trigger's serial must match in full; otherwise a no-read."
    )

    @field_validator("pattern")
    @classmethod
    def _pattern_ok(cls, value: str | None) -> str | None:
        return _check_regex(value)


class ManifestReaderConfig(_Strict):
    """Replays: the serial of each image comes from a manifest CSV (or the source's hint)."""

    type: Literal["manifest"] = Field("manifest", description="Serial from a replay manifest.")
    path: Path | None = Field(
        None, description="CSV with header image,serial (as the folder source reads); without "
        "it the frame's serial_hint (set by the folder source from its manifest) is used."
    )
    file_column: str = Field("image", description="Manifest column holding the image file name.")
    serial_column: str = Field("serial", description="Manifest column holding the serial.")


class FilenameReaderConfig(_Strict):
    """Replays: the serial is part of the image file name."""

    type: Literal["filename"] = Field("filename", description="Serial from the image file name.")
    pattern: str = Field(
        r"^(?P<serial>[^.]+)", description="Regex searched in the file name (without folders); "
        "the named group 'serial' (or the whole match) is the serial. Default: the stem.",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern_ok(cls, value: str | None) -> str | None:
        return _check_regex(value)


SerialReaderConfig = Annotated[
    CodeReaderConfig | TriggerReaderConfig | ManifestReaderConfig | FilenameReaderConfig,
    Field(discriminator="type"),
]

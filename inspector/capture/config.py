"""Pydantic models of the `source:` section, discriminated on `type`, and the CLI spec parser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from inspector.errors import ConfigError

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".mjpeg", ".mjpg"}
)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")
DEFAULT_SIM_IMAGES = Path("datasets/magnetic-tile-sample/images")


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(
        default=None,
        min_length=1,
        description="Name of this source in logs, metrics and rows; defaults to `type:target`.",
    )

    def source_id(self) -> str:
        """The configured id, or a readable default derived from the target."""
        return self.id or self._default_id()

    def _default_id(self) -> str:
        raise NotImplementedError


class _LiveBase(_SourceBase):
    reconnect_initial_s: float = Field(
        default=0.5, gt=0, description="First delay before reopening a lost camera; doubles."
    )
    reconnect_max_s: float = Field(
        default=10.0, gt=0, description="Cap of the reconnect delay (exponential backoff)."
    )
    stale_after_frames: int = Field(
        default=30,
        ge=2,
        description="No new frame for this many frame intervals means `camera_offline` "
        "(catches feeds that freeze or block after an unplug).",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> _LiveBase:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


class UsbSourceConfig(_LiveBase):
    type: Literal["usb"] = Field(description="A USB/V4L2 camera read through OpenCV.")
    device: int | str = Field(
        default=0,
        description="Camera index or device path. Prefer the stable /dev/v4l/by-id/... path: "
        "/dev/videoN numbers change when the camera is replugged.",
    )
    api: Literal["auto", "v4l2", "dshow", "msmf", "any"] = Field(
        default="auto", description="OpenCV capture backend; auto is V4L2 on Linux."
    )
    fourcc: str | None = Field(
        default="MJPG",
        description="Pixel format requested before the resolution (MJPG allows full "
        "resolution at full rate on USB 2); null keeps the driver default.",
    )
    width: int | None = Field(default=None, gt=0, description="Requested frame width in pixels.")
    height: int | None = Field(default=None, gt=0, description="Requested frame height in pixels.")
    fps: float | None = Field(
        default=None, gt=0, description="Requested frame rate; also sets the stale-frame window."
    )
    exposure: float | None = Field(
        default=None, description="Manual exposure in driver units (disables auto exposure)."
    )
    gain: float | None = Field(default=None, description="Manual gain in driver units.")

    @model_validator(mode="after")
    def _check(self) -> UsbSourceConfig:
        if self.fourcc is not None and len(self.fourcc) != 4:
            raise ValueError(f"fourcc must be 4 characters, got {self.fourcc!r}")
        if (self.width is None) != (self.height is None):
            raise ValueError("set both width and height, or neither")
        return self

    def _default_id(self) -> str:
        return f"usb:{self.device}"


class StreamSourceConfig(_LiveBase):
    type: Literal["stream"] = Field(description="An RTSP/HTTP network camera read through OpenCV.")
    url: str = Field(description="Stream URL, e.g. rtsp://user:pass@10.0.0.5:554/stream1.")
    fps: float | None = Field(
        default=None, gt=0, description="Expected frame rate when the stream does not report one."
    )

    @model_validator(mode="after")
    def _check(self) -> StreamSourceConfig:
        if not self.url.lower().startswith(STREAM_SCHEMES):
            raise ValueError(f"url must start with one of {', '.join(STREAM_SCHEMES)}")
        return self

    def _default_id(self) -> str:
        # Never put credentials into ids, logs or rows.
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


class VideoSourceConfig(_SourceBase):
    type: Literal["video"] = Field(description="A video file read frame by frame.")
    path: Path = Field(description="Video file (mp4, avi, mkv, ...).")
    paced: bool = Field(
        default=False,
        description="true: deliver at the native frame rate like a live camera (frames are "
        "skipped when the reader falls behind); false: every frame as fast as possible.",
    )
    fps: float | None = Field(
        default=None, gt=0, description="Pace at this rate instead of the file's native rate."
    )
    loop: bool = Field(default=False, description="Start again at the end instead of ending.")

    def _default_id(self) -> str:
        return f"video:{self.path.name}"


class DecodeLimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: float = Field(
        default=200.0, gt=0, description="Larger files are recorded as `bad_image`, never read."
    )
    max_pixels: int = Field(
        default=100_000_000, ge=1,
        description="Images whose header announces more pixels are `bad_image` (checked before "
        "decoding, so a decompression bomb costs nothing).",
    )


class FolderSourceConfig(_SourceBase):
    type: Literal["folder"] = Field(description="Images in a folder, one part per image.")
    path: Path = Field(description="Folder of images (jpg, png, bmp, tif), read in sorted order.")
    manifest: Path | None = Field(
        default=None,
        description="Optional CSV with header `image,serial` giving each image's serial; "
        "a relative path is looked up in the folder when not found as given.",
    )
    pattern: str = Field(default="*", description="Glob of file names to include, e.g. `*.png`.")
    loop: bool = Field(default=False, description="Start again at the end instead of ending.")
    resume: bool = Field(
        default=True,
        description="Pass over files this station already recorded (a restart continues where "
        "the last run stopped); not with `loop`.",
    )
    limits: DecodeLimitsConfig = Field(
        default_factory=DecodeLimitsConfig, description="Size limits of an input file."
    )

    def _default_id(self) -> str:
        return f"folder:{self.path.name}"


class SimulatedSourceConfig(_SourceBase):
    type: Literal["simulated"] = Field(description="A simulated conveyor presenting sample parts.")
    images: Path = Field(
        default=DEFAULT_SIM_IMAGES,
        description="Folder of part images as <class>/<image>; the class is the true label.",
    )
    parts_per_minute: float = Field(default=30.0, gt=0, le=600, description="Line rate.")
    fps: float = Field(default=15.0, gt=0, le=240, description="Rendered camera frame rate.")
    width: int = Field(default=640, ge=320, le=4096, description="Frame width in pixels.")
    height: int = Field(default=480, ge=240, le=4096, description="Frame height in pixels.")
    seed: int = Field(default=0, description="Seed of the part order and noise (reproducible).")
    print_codes: bool = Field(
        default=True, description="Print a DataMatrix serial on a white label beside each part."
    )
    serial_prefix: str = Field(
        default="MT-", description="Serials are prefix + a 6-digit counter, e.g. MT-000123."
    )
    dwell_s: float = Field(
        default=0.3, ge=0, description="The conveyor indexes: each part rests this long centred."
    )
    realtime: bool = Field(
        default=True, description="Pace frames in real time (false: render as fast as asked)."
    )
    max_parts: int | None = Field(
        default=None, ge=1, description="End after this many parts; null runs forever."
    )

    @model_validator(mode="after")
    def _check(self) -> SimulatedSourceConfig:
        cycle = 60.0 / self.parts_per_minute
        if cycle - self.dwell_s < 4.0 / self.fps:
            raise ValueError(
                f"parts_per_minute={self.parts_per_minute} leaves {cycle:.2f}s per part: too "
                f"short for dwell_s={self.dwell_s} and 4 frames of motion at {self.fps} fps"
            )
        return self

    def _default_id(self) -> str:
        return "simulated"


SourceConfig = Annotated[
    UsbSourceConfig
    | StreamSourceConfig
    | VideoSourceConfig
    | FolderSourceConfig
    | SimulatedSourceConfig,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)

SPEC_HELP = (
    "usb:0 | usb:/dev/v4l/by-id/... | rtsp://... | http://... | video:file.mp4 | file.mp4 | "
    "folder:dir | <existing dir> | simulated[:images_dir]"
)


def validate_source_config(raw: dict) -> SourceConfig:
    """Validate a raw mapping into a SourceConfig; errors become ConfigError `path: message`."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or 'source'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("invalid source: " + "; ".join(lines)) from exc


def parse_source_spec(spec: str) -> SourceConfig:
    """Turn a CLI flag such as `usb:0`, `rtsp://...`, `video:a.mp4` or `simulated` into a config."""
    text = spec.strip()
    raw = _spec_to_raw(text)
    if raw is None:
        raise ConfigError(f"cannot understand source {spec!r}; expected {SPEC_HELP}")
    return validate_source_config(raw)


def _spec_to_raw(text: str) -> dict | None:
    if not text:
        return None
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if text.lower().startswith(STREAM_SCHEMES):
        return {"type": "stream", "url": text}
    if sep and kind == "usb":
        return {"type": "usb", "device": int(rest) if rest.isdigit() else rest}
    if kind == "usb" and not sep:
        return {"type": "usb", "device": 0}
    if sep and kind == "video":
        return {"type": "video", "path": rest}
    if sep and kind == "folder":
        return {"type": "folder", "path": rest}
    if kind in ("simulated", "sim"):
        return {"type": "simulated", "images": rest} if rest else {"type": "simulated"}
    path = Path(text)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return {"type": "video", "path": text}
    if text.startswith("/dev/"):
        return {"type": "usb", "device": text}
    if path.is_dir():
        return {"type": "folder", "path": text}
    return None

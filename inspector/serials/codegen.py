"""Code image generator (zxing-cpp writer) for tests, benchmarks and the line simulator."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from inspector.errors import SerialError
from inspector.serials.code import FORMATS

_BAR_HEIGHT_MODULES = 15


@dataclass(frozen=True)
class Stamp:
    """How a code label is printed onto a part image."""

    center: tuple[float, float]      # label centre in image pixels (x, y)
    module_px: float = 6.0           # size of one code module in pixels
    angle_deg: float = 0.0           # label rotation, counter-clockwise
    dark: int = 20                   # grey level of the code's dark modules
    light: int = 235                 # grey level of the label background
    quiet_modules: int = 2           # light margin around the code, in modules


def render_code(text: str, fmt: str = "datamatrix", scale: int = 1) -> np.ndarray:
    """A code as a uint8 gray image, black on white, without quiet zone, `scale` px per module."""
    if fmt not in FORMATS:
        raise SerialError(f"unknown code format {fmt!r}; use one of {sorted(FORMATS)}")
    options = {"force_square": True} if fmt == "datamatrix" else {}
    try:
        code = zxingcpp.create_barcode(text, FORMATS[fmt], **options)
    except ValueError as exc:
        raise SerialError(f"cannot encode {text!r} as {fmt}: {exc}") from exc
    image = np.asarray(code.to_image(scale=scale, add_quiet_zones=False))
    return np.ascontiguousarray(image, dtype=np.uint8)


def stamp_code(image: np.ndarray, text: str, stamp: Stamp, fmt: str = "datamatrix") -> np.ndarray:
    """Return a copy of `image` with the code printed on a light label at `stamp`'s pose."""
    code = render_code(text, fmt)
    q = stamp.quiet_modules
    if fmt == "code128":
        # one bar row stretched to a short, wide label; 1D codes need a wider quiet zone
        code = np.repeat(code[:1], _BAR_HEIGHT_MODULES, axis=0)
        q = max(q, 10)
    label = np.full((code.shape[0] + 2 * q, code.shape[1] + 2 * q), 255, np.uint8)
    label[q:q + code.shape[0], q:q + code.shape[1]] = code
    label = stamp.dark + (label.astype(np.float32) / 255.0) * (stamp.light - stamp.dark)
    h, w = label.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), stamp.angle_deg, stamp.module_px)
    matrix[0, 2] += stamp.center[0] - w / 2.0
    matrix[1, 2] += stamp.center[1] - h / 2.0
    return _paste(image, label, matrix)


def _paste(image: np.ndarray, label: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    warped = cv2.warpAffine(label, matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones_like(label), matrix, (width, height), flags=cv2.INTER_LINEAR)
    out = image.astype(np.float32)
    if out.ndim == 3:
        warped = warped[:, :, None]
        mask = mask[:, :, None]
    out = out * (1.0 - mask) + warped * mask
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def blank_frame(width: int = 1280, height: int = 720, level: int = 110) -> np.ndarray:
    """A plain gray frame to stamp codes on when no part image is at hand."""
    return np.full((height, width), level, np.uint8)


def part_frame(
    tile: np.ndarray, serial: str, stamp: Stamp, rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720), belt_level: int = 95,
) -> np.ndarray:
    """A gray line-camera frame: belt, the part image on its left half, the serial's label."""
    width, height = size
    frame = np.clip(rng.normal(belt_level, 6, (height, width)), 0, 255).astype(np.uint8)
    gray = tile if tile.ndim == 2 else cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY)
    scale = min(0.5 * width / gray.shape[1], 0.7 * height / gray.shape[0])
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    y, x = (height - gray.shape[0]) // 2, int(0.08 * width)
    frame[y:y + gray.shape[0], x:x + gray.shape[1]] = gray
    return stamp_code(frame, serial, stamp)

"""The one preprocessing implementation shared by training and serving (NumPy + OpenCV, no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.errors import DatasetError
from inspector.model.decode import BadImage, DecodeLimits, decode_file

# Test-time views: each maps a CHW canvas to a transformed canvas and back (for heatmaps). All
# eight are the square's symmetries, which training's flips and quarter turns already show the net.
VIEWS = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "transverse")
# What `inspector train` puts in a card unless --tta says otherwise (the shipped bundles' views).
DEFAULT_VIEWS = ("identity", "hflip", "vflip", "rot90")
_TURNS = {"rot90": 1, "rot180": 2, "rot270": 3}
# The views that keep a canvas's height and width: the only ones a non-square canvas can run.
SHAPE_KEEPING_VIEWS = ("identity", "hflip", "vflip", "rot180")
# A canvas: an int is a square of that side (every card before input_shape), else (height, width).
Canvas = int | tuple[int, int]


def canvas_hw(canvas: Canvas) -> tuple[int, int]:
    """(height, width) of a canvas given as a square's side or as (height, width)."""
    if isinstance(canvas, int | np.integer):
        return int(canvas), int(canvas)
    height, width = canvas
    return int(height), int(width)


@dataclass(frozen=True)
class Placement:
    """Where the resized image content sits on the canvas (top, left, height, width)."""

    top: int
    left: int
    height: int
    width: int


def read_image(path: str | Path, limits: DecodeLimits | None = None) -> np.ndarray:
    """Decode an image file to uint8 grayscale; a corrupt, empty or oversize file is a DatasetError."""
    if not Path(path).is_file():
        raise DatasetError(f"{path}: no such image file")
    try:
        return to_gray(decode_file(path, limits))
    except BadImage as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def to_gray(image: np.ndarray) -> np.ndarray:
    """Accept gray HxW, HxWx1, BGR HxWx3 or BGRA HxWx4 uint8 and return gray HxW uint8."""
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 1:
        gray = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        raise ValueError(f"unsupported image shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return gray


def fit_size(height: int, width: int, size: Canvas, scale: float = 1.0) -> tuple[int, int]:
    """Size that fits the canvas with the aspect ratio kept (never squashed)."""
    ch, cw = canvas_hw(size)
    # min of the two: on a square exactly the old size * scale / max(height, width)
    factor = min(ch * scale / height, cw * scale / width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def resize_to_fit(image: np.ndarray, size: Canvas, scale: float = 1.0, mask: bool = False) -> np.ndarray:
    """Resize to fit the canvas (times scale); masks use nearest neighbour."""
    h, w = fit_size(image.shape[0], image.shape[1], size, scale)
    shrink = cv2.INTER_AREA if h < image.shape[0] else cv2.INTER_LINEAR
    interp = cv2.INTER_NEAREST if mask else shrink
    return cv2.resize(image, (w, h), interpolation=interp)


def standardise(content: np.ndarray) -> np.ndarray:
    """Per-image standardisation to mean 0, std 1 (float32); flat images stay at 0."""
    x = content.astype(np.float32)
    mean, std = float(x.mean()), float(x.std())
    return (x - mean) / max(std, 1e-3 * 255.0)


def place(content: np.ndarray, size: Canvas, top: int | None = None, left: int | None = None
          ) -> tuple[np.ndarray, Placement]:
    """Put standardised content on a zero canvas (zero = the image mean), centred by default."""
    h, w = content.shape[:2]
    ch, cw = canvas_hw(size)
    top = (ch - h) // 2 if top is None else top
    left = (cw - w) // 2 if left is None else left
    canvas = np.zeros((ch, cw), dtype=np.float32)
    canvas[top:top + h, left:left + w] = content
    return canvas, Placement(top, left, h, w)


def prepare(image: np.ndarray, size: Canvas) -> tuple[np.ndarray, Placement]:
    """Serving-time preprocessing of one image: gray, fit, standardise, centre on the canvas."""
    gray = to_gray(image)
    return place(standardise(resize_to_fit(gray, size)), size)


def prepare_batch(images: list[np.ndarray], size: Canvas) -> tuple[np.ndarray, list[Placement]]:
    """Stack prepared images into an N x 1 x height x width float32 batch."""
    prepared = [prepare(img, size) for img in images]
    batch = np.stack([p[0] for p in prepared])[:, None, :, :]
    return np.ascontiguousarray(batch, dtype=np.float32), [p[1] for p in prepared]


def apply_view(batch: np.ndarray, view: str) -> np.ndarray:
    """Transform an N x C x H x W batch into one test-time view."""
    if view == "identity":
        return batch
    if view == "hflip":
        return batch[..., ::-1]
    if view == "vflip":
        return batch[..., ::-1, :]
    if view in _TURNS:
        return np.rot90(batch, k=_TURNS[view], axes=(-2, -1))
    if view == "transpose":
        return np.swapaxes(batch, -2, -1)
    if view == "transverse":  # the mirror across the anti-diagonal
        return np.swapaxes(batch[..., ::-1, ::-1], -2, -1)
    raise ValueError(f"unknown test-time view {view!r}; known: {', '.join(VIEWS)}")


def invert_view(maps: np.ndarray, view: str) -> np.ndarray:
    """Map an N x C x h x w output of one view back to the identity orientation."""
    if view in _TURNS:
        return np.rot90(maps, k=-_TURNS[view], axes=(-2, -1))
    return apply_view(maps, view)  # flips and mirrors are their own inverse

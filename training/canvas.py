"""The canvas a training's network sees: the square, or a rectangle shaped like long narrow parts."""

from __future__ import annotations

import argparse
import logging
import math
import statistics
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from inspector.errors import ConfigError
from inspector.model.preprocess import SHAPE_KEEPING_VIEWS

logger = logging.getLogger(__name__)

# A median height/width within 1.25 of 1 keeps the square: magnetic-tile's train split is at 1.19
# (its tiles lie either way, 0.42-2.33), and the shipped recipes' figures were made square.
SQUARE_WITHIN = 1.25
MAX_ASPECT = 8.0  # longer parts still get an 8:1 canvas: its short side keeps a few head cells
STRIDE = 32       # the decision head's output stride: each side a whole number of its cells
MIN_SIDE = 2 * STRIDE
AUTO, SQUARE = "auto", "square"


def parse_canvas(text: str) -> tuple[int, int] | None:
    """A recipe's `canvas` setting: auto, square (None for both) or HEIGHTxWIDTH in pixels."""
    if text in (AUTO, SQUARE):
        return None
    height, sep, width = text.lower().partition("x")
    try:
        shape = int(height), int(width)
    except ValueError:
        shape = None
    if not sep or shape is None or min(shape) < 16 or any(v % 8 for v in shape):
        raise ValueError(f"canvas is auto, square or HEIGHTxWIDTH (multiples of 8 px, 16 or more), "
                         f"got {text!r}")
    return shape


def image_aspects(paths: Iterable[Path]) -> list[float]:
    """height / width of each image, from its header (no pixels decoded); unreadable files are left
    out here (reading the images names them)."""
    aspects = []
    for path in paths:
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            continue
        if width > 0 and height > 0:
            aspects.append(height / width)
    return aspects


def _side(pixels: float) -> int:
    return max(MIN_SIDE, STRIDE * round(pixels / STRIDE))


def shaped_canvas(aspect: float, size: int) -> tuple[int, int]:
    """(height, width) for parts of this median height/width: about size x size pixels (so a step
    costs what the square's does), the longer side along the parts' length; the square when the
    parts are nearly square."""
    if 1 / SQUARE_WITHIN < aspect < SQUARE_WITHIN:
        return size, size
    root = math.sqrt(min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT))
    return _side(size * root), _side(size / root)


def choose_canvas(setting: str, size: int, paths: Iterable[Path]) -> tuple[int, int]:
    """The canvas a run trains on: `setting` HxW as given, square, or (auto) from the median
    height/width of the training images."""
    given = parse_canvas(setting)
    if given is not None:
        return given
    if setting == SQUARE:
        return size, size
    aspects = image_aspects(paths)
    if not aspects:
        return size, size
    aspect = statistics.median(aspects)
    canvas = shaped_canvas(aspect, size)
    if canvas[0] != canvas[1]:
        logger.info("canvas %dx%d (height x width) for parts of median height/width %.2f: it draws "
                    "them %.1fx larger each way than a %d px square", canvas[0], canvas[1], aspect,
                    _shrink_gain(aspect, size, canvas), size)
    return canvas


def _shrink_gain(aspect: float, size: int, canvas: tuple[int, int]) -> float:
    """How many times larger a part of this height/width is drawn on `canvas` than on the square
    (the scale that fits it there over the square's)."""
    return min(canvas[0] / aspect, canvas[1]) * max(aspect, 1.0) / size


def views_for(views: str, canvas: tuple[int, int]) -> str:
    """The test-time views a canvas can run: a non-square one keeps only the shape-keeping ones
    (flips, the half turn); a quarter turn would stand it on its side."""
    if canvas[0] == canvas[1]:
        return views
    kept = [v for v in views.split(",") if v in SHAPE_KEEPING_VIEWS]
    dropped = [v for v in views.split(",") if v and v not in SHAPE_KEEPING_VIEWS]
    if dropped:
        logger.info("canvas %dx%d is not square: test-time view(s) %s left out", canvas[0], canvas[1],
                    ", ".join(dropped))
    return ",".join(kept or ["identity"])


def canvas_of(args: argparse.Namespace) -> tuple[int, int]:
    """The (height, width) a prepared run trains on (prepare writes `input_shape` into its args)."""
    shape = getattr(args, "input_shape", None)
    if shape is None:
        return args.input_size, args.input_size
    return int(shape[0]), int(shape[1])


def resolve_canvas(args: argparse.Namespace, paths: Iterable[Path]) -> tuple[int, int]:
    """Choose the run's canvas, record it in its args (`input_shape`, as the report keeps it) and
    keep only the views it can run (`tta`)."""
    try:
        canvas = choose_canvas(args.canvas, args.input_size, paths)
    except ValueError as exc:
        raise ConfigError(f"training settings: {exc}") from None
    args.input_shape = list(canvas)
    args.tta = views_for(args.tta, canvas)
    return canvas

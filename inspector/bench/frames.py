"""The frames a benchmark replays: a folder of links in replay order, or a video of centred tiles."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from inspector.capture.folder import IMAGE_SUFFIXES, load_image
from inspector.errors import InspectorError

GOOD_FOLDERS = {"free", "good", "ok"}


class BenchInputError(InspectorError):
    """The images given to a benchmark cannot make its frames."""


def find_images(images: Path) -> list[Path]:
    """Every image under `images` (recursively), sorted."""
    found = sorted(p for p in Path(images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise BenchInputError(f"no images under {images}")
    return found


def replay_order(sources: list[Path], n: int, defect_share: float | None) -> list[Path]:
    """Cycle through all sources, or interleave defects at a fixed share (every k-th frame).

    Good images are those under a folder named free/good/ok."""
    if defect_share is None:
        return [sources[i % len(sources)] for i in range(n)]
    good = [p for p in sources if p.parent.name.lower() in GOOD_FOLDERS]
    bad = [p for p in sources if p.parent.name.lower() not in GOOD_FOLDERS]
    if not good or not bad:
        raise BenchInputError("a defect share needs images under free/good/ok and under defect folders")
    every = max(1, round(1 / defect_share)) if defect_share > 0 else n + 1
    return [bad[(i // every) % len(bad)] if i % every == every - 1 else good[i % len(good)]
            for i in range(n)]


def prepare_frames(images: Path, n: int, folder: Path, defect_share: float | None = None) -> list[Path]:
    """n files in `folder` (symlinks to the source images), in replay order."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(replay_order(find_images(images), n, defect_share)):
        src = src.resolve()
        dst = folder / f"{i:06d}{src.suffix.lower()}"
        if not dst.exists():
            os.symlink(src, dst)
        out.append(dst)
    return out


def make_video(images: Path, path: Path, frames: int, fps: float) -> Path:
    """A 640x480 MJPG video: each frame one tile centred on a plain background."""
    tiles = [t for t in (load_image(p) for p in find_images(images)) if t is not None]
    if not tiles:
        raise BenchInputError(f"no readable images under {images}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for i in range(frames):
        writer.write(_centred(tiles[i % len(tiles)]))
    writer.release()
    return path


def _centred(tile: np.ndarray) -> np.ndarray:
    canvas = np.full((480, 640, 3), 90, np.uint8)
    tile = tile if tile.ndim == 3 else cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)
    scale = min(400 / tile.shape[0], 560 / tile.shape[1])
    tile = cv2.resize(tile, None, fx=scale, fy=scale)
    y, x = (480 - tile.shape[0]) // 2, (640 - tile.shape[1]) // 2
    canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return canvas

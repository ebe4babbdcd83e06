"""Simulated line: sample parts ride a conveyor past the camera, rest centred, carry a code."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.capture.base import FrameStamper, SourceHealth, finite_health
from inspector.capture.config import SimulatedSourceConfig
from inspector.capture.folder import IMAGE_SUFFIXES, load_image
from inspector.capture.sim_scene import (
    Layout,
    belt_texture,
    box_x_at,
    fit_into,
    label_image,
    noise_bank,
    paste,
)
from inspector.domain import Frame
from inspector.errors import EndOfSource, SourceError

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[2]
UNKNOWN_CLASS = "unknown"  # images lying directly in the images folder, outside a class folder

# Called once per part, in order, with the serial it will carry; returns the class whose image
# to show (matched case-insensitively), or None for a random one. Runs in the capture thread:
# it must be quick and must not block.
PartPlan = Callable[[str], str | None]


@dataclass(frozen=True)
class SimPart:
    """Ground truth of one part presented by the simulated line."""

    serial: str
    true_class: str
    image_name: str
    t_enter: float                  # time.monotonic() when its cycle began (entering, left edge)
    frame_enter: int | None         # first frame id of its cycle, None if no frame was rendered
    box: tuple[int, int, int, int]  # x, y, w, h of the tile while it rests in the centre


@dataclass(frozen=True)
class _Sprite:
    part: SimPart
    tile: np.ndarray
    tile_dx: int      # tile offset inside the layout box
    tile_dy: int
    label: np.ndarray | None


def find_catalog(images: Path) -> list[tuple[str, Path]]:
    """(class, image path) pairs from <images>/<class>/<file>; SourceError when none."""
    folder = images
    if not folder.is_dir() and not folder.is_absolute() and (_REPO_ROOT / folder).is_dir():
        folder = _REPO_ROOT / folder  # lets `inspector demo` run from outside the checkout
    if not folder.is_dir():
        raise SourceError(f"simulated line: images folder {images} does not exist")
    entries = sorted(folder.iterdir())
    catalog = [
        (sub.name, f)
        for sub in entries if sub.is_dir()
        for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    catalog += [(UNKNOWN_CLASS, f) for f in entries if f.suffix.lower() in IMAGE_SUFFIXES]
    if not catalog:
        raise SourceError(f"simulated line: no images under {folder} (expected <class>/<image>)")
    return catalog


class SimulatedLine:
    """A FrameSource rendering a conveyor; `parts` holds the ground truth of what it showed."""

    is_live = True

    def __init__(self, cfg: SimulatedSourceConfig, plan: PartPlan | None = None) -> None:
        self.config = cfg
        self._plan = plan
        self.source_id = cfg.source_id()
        self.is_live = cfg.realtime
        self.cycle_s = 60.0 / cfg.parts_per_minute
        self._stamper = FrameStamper(self.source_id)
        self._lock = threading.Lock()
        self._parts: list[SimPart] = []
        self._catalog: list[tuple[str, Path]] = []
        self._sprite: _Sprite | None = None
        self._opened = False
        self._ended = False
        self._superseded = 0
        # Layout is pure arithmetic (plus one tiny code render): known before open().
        self._label_scale = max(2, round(0.16 * cfg.height / 16))
        label_w = label_image("X" * len(self._serial(0)), self._label_scale).shape[1]
        self._layout = Layout.for_frame(cfg.width, cfg.height, label_w if cfg.print_codes else 0)

    @property
    def parts(self) -> list[SimPart]:
        """Parts presented so far (a copy; safe to call from another thread)."""
        with self._lock:
            return list(self._parts)

    @property
    def centre_box(self) -> tuple[int, int, int, int]:
        """x, y, w, h of the box in which every part's tile rests (a natural trigger ROI).

        Available before open(), so a station can derive its trigger region from the config.
        """
        lay = self._layout
        return lay.centre_x, lay.box_y, lay.box_w, lay.box_h

    def open(self) -> None:
        cfg = self.config
        self._catalog = find_catalog(cfg.images)
        self._by_class: dict[str, list[tuple[str, Path]]] = {}
        for entry in self._catalog:
            self._by_class.setdefault(entry[0].lower(), []).append(entry)
        self._rng = np.random.default_rng(cfg.seed)
        scene_rng = np.random.default_rng([cfg.seed, 1])  # part order depends on seed alone
        self._belt = belt_texture(cfg.height, cfg.width, scene_rng)
        self._noise = noise_bank(cfg.height, cfg.width, scene_rng)
        self._belt_travel = self._layout.end_x - self._layout.start_x
        self._index = 0
        self._t0: float | None = None
        with self._lock:
            self._parts = []
        self._sprite, self._opened, self._ended = None, True, False

    def read(self, timeout: float) -> Frame | None:
        """The next frame; in realtime mode waits until it is due (at most timeout)."""
        if self._ended:
            raise EndOfSource(f"{self.source_id}: all {self.config.max_parts} parts presented")
        if not self._opened:
            raise SourceError(f"{self.source_id}: read() on a source that is not open")
        if self.config.realtime and not self._wait_until_due(timeout):
            return None
        t_scene = self._index / self.config.fps
        self._index += 1
        k = int(t_scene // self.cycle_s)
        if self.config.max_parts is not None and k >= self.config.max_parts:
            self._ended = True
            raise EndOfSource(f"{self.source_id}: all {self.config.max_parts} parts presented")
        sprite = self._sprite_for(k)
        image = self._render(sprite, k, t_scene - k * self.cycle_s)
        # No name: the serial must come from the printed code, as on a real line.
        return self._stamper.stamp(image)

    def close(self) -> None:
        self._opened = False

    def health(self) -> SourceHealth:
        return finite_health(
            self._stamper, opened=self._opened, ended=self._ended, superseded=self._superseded
        )

    # -- timing -------------------------------------------------------------------------------

    def _wait_until_due(self, timeout: float) -> bool:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._index / self.config.fps
        if due > now:
            time.sleep(min(due - now, max(0.0, timeout)))
            if time.monotonic() < due:
                return False
        # Like a real camera, frames nobody was there to take are gone.
        current = math.floor((time.monotonic() - self._t0) * self.config.fps)
        if current > self._index:
            self._superseded += current - self._index
            self._index = current
        return True

    # -- parts --------------------------------------------------------------------------------

    def _serial(self, k: int) -> str:
        return f"{self.config.serial_prefix}{k + 1:06d}"

    def _sprite_for(self, k: int) -> _Sprite:
        if self._sprite is not None and self._sprite.part.serial == self._serial(k):
            return self._sprite
        while len(self._parts) <= k:  # parts skipped by a lagging reader still went by
            self._sprite = self._new_sprite(len(self._parts), k)
            with self._lock:
                self._parts.append(self._sprite.part)
        assert self._sprite is not None
        return self._sprite

    def _new_sprite(self, k: int, current: int) -> _Sprite:
        wanted = self._plan(self._serial(k)) if self._plan is not None else None
        true_class, path, tile = self._pick_tile(wanted)
        lay = self._layout
        tile = fit_into(tile, lay.box_w, lay.box_h)
        dx, dy = (lay.box_w - tile.shape[1]) // 2, (lay.box_h - tile.shape[0]) // 2
        shown = k == current
        if self.config.realtime and self._t0 is not None:
            t_enter = self._t0 + k * self.cycle_s
        else:
            t_enter = time.monotonic()
        part = SimPart(
            serial=self._serial(k),
            true_class=true_class,
            image_name=path.name,
            t_enter=t_enter,
            frame_enter=self._stamper.count + 1 if shown else None,
            box=(lay.centre_x + dx, lay.box_y + dy, tile.shape[1], tile.shape[0]),
        )
        label = label_image(part.serial, self._label_scale) if self.config.print_codes else None
        return _Sprite(part=part, tile=tile, tile_dx=dx, tile_dy=dy, label=label)

    def _pick_tile(self, wanted: str | None = None) -> tuple[str, Path, np.ndarray]:
        choices = self._catalog
        if wanted is not None:
            choices = self._by_class.get(wanted.lower(), self._catalog)
            if choices is self._catalog:
                logger.debug("%s: no %r images; showing a random part", self.source_id, wanted)
        for _ in range(10):
            true_class, path = choices[int(self._rng.integers(len(choices)))]
            image = load_image(path)
            if image is not None:
                if image.ndim == 3:
                    image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
                return true_class, path, image
            logger.warning("%s: skipping unreadable part image %s", self.source_id, path)
        raise SourceError(f"simulated line: images under {self.config.images} are unreadable")

    # -- drawing ------------------------------------------------------------------------------

    def _render(self, sprite: _Sprite, k: int, u: float) -> np.ndarray:
        lay = self._layout
        x = box_x_at(u, self.cycle_s, self.config.dwell_s, lay)
        # The belt carries the part, so it scrolls by exactly the distance the part moved.
        travelled = k * self._belt_travel + (x - lay.start_x)
        offset = (lay.width - round(travelled) % lay.width) % lay.width
        canvas = self._belt[:, offset : offset + lay.width].copy()
        bx = round(x)
        paste(canvas, sprite.tile, bx + sprite.tile_dx, lay.box_y + sprite.tile_dy)
        if sprite.label is not None:
            ly = (lay.height - sprite.label.shape[0]) // 2
            paste(canvas, sprite.label, bx + lay.box_w + lay.label_gap, ly)
        noise = self._noise[self._index % len(self._noise)]
        return np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8)

"""Synthetic defects drawn on good images, each returned with a mask of exactly the altered pixels."""

from __future__ import annotations

import cv2
import numpy as np

# Kinds after the magnetic-tile defects: blowholes, cracks, scratches, edge breaks, fray, uneven
# texture; `patch` is CutPaste (a piece of the same image moved, brightness shifted); `step` is
# an uneven surface as real tiles show it: a region ground to another level, sharp-edged; `pit`
# and `edge_crack` are the small blowholes and short cracks real tiles show at their very edge.
KINDS = ("hole", "crack", "scratch", "break", "fray", "patch", "uneven", "step", "pit", "edge_crack")
# Mixes of kinds (probabilities in KINDS order). New kinds are appended with a zero in the older
# mixes, so every draw an older mix makes is the one it made before (numpy's choice is unchanged
# by trailing zeros): recorded training commands still rebuild their bundles.
MIXES = {
    "v1": (0.2, 0.2, 0.1, 0.15, 0.1, 0.15, 0.1, 0.0, 0.0, 0.0),
    "steps": (0.18, 0.18, 0.08, 0.13, 0.1, 0.13, 0.05, 0.15, 0.0, 0.0),
    "edges": (0.14, 0.14, 0.06, 0.12, 0.08, 0.1, 0.04, 0.14, 0.1, 0.08),
}
# Changes smaller than this (gray levels) are undone, so the mask only holds visible damage.
MIN_CHANGE = 6


def synthesize(image: np.ndarray, rng: np.random.Generator, kind: str | None = None,
               valid: np.ndarray | None = None,
               kind_p: tuple[float, ...] = MIXES["v1"]) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic defect on a uint8 gray image: (altered image, uint8 0/1 mask).

    `valid` (bool HxW) marks the tile region (e.g. not the canvas padding): nothing outside it
    changes. `kind_p` (one of MIXES) weighs the kinds when `kind` is None. Every mask pixel
    differs from the input and no pixel outside the mask does; the mask may be empty when the
    defect fell outside `valid`.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"synthesize needs a uint8 gray image, got {image.dtype} {image.shape}")
    if kind is None:
        kind = str(rng.choice(KINDS, p=kind_p))
    try:
        draw = _DRAWERS[kind]
    except KeyError:
        raise ValueError(f"unknown synthetic defect {kind!r}; known: {', '.join(KINDS)}") from None
    target = draw(image.astype(np.float32), rng)
    altered = np.clip(np.rint(target), 0, 255).astype(np.uint8)
    changed = np.abs(altered.astype(np.int16) - image.astype(np.int16)) >= MIN_CHANGE
    if valid is not None:
        changed &= valid.astype(bool)
    return np.where(changed, altered, image), changed.astype(np.uint8)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return yy.astype(np.float32), xx.astype(np.float32)


def _point(f: np.ndarray, rng: np.random.Generator, margin: float = 0.1) -> tuple[float, float]:
    h, w = f.shape
    return rng.uniform(margin * w, (1 - margin) * w), rng.uniform(margin * h, (1 - margin) * h)


def _hole(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A blowhole: a dark ellipse, darkest at its centre, with a faint bright rim."""
    s = min(f.shape)
    cx, cy = _point(f, rng)
    a, b = s * rng.uniform(0.025, 0.09, size=2) + 1.5
    t = rng.uniform(0, np.pi)
    yy, xx = _grid(f.shape)
    u = ((xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)) / a
    v = (-(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)) / b
    d = np.sqrt(u * u + v * v)
    depth = rng.uniform(0.4, 0.85)
    inside = np.clip(1.0 - d, 0.0, 1.0) ** 0.5
    rim = np.clip(1.0 - np.abs(d - 1.15) / 0.15, 0.0, 1.0) * rng.uniform(0.0, 0.25)
    return f * (1.0 - depth * inside) * (1.0 + rim)


def _near_edge(f: np.ndarray, rng: np.random.Generator, reach: float) -> tuple[float, float, int]:
    """(x, y, side) of a point at most `reach` pixels in from a random image edge."""
    h, w = f.shape
    side = int(rng.integers(4))
    d = rng.uniform(0.0, reach)
    along = rng.uniform(0.0, 1.0)
    x, y = ((along * w, d), (w - 1 - d, along * h), (along * w, h - 1 - d), (d, along * h))[side]
    return x, y, side


def _pit(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small blowhole, most often at (or cut by) the tile edge, where real ones hide."""
    s = min(f.shape)
    if rng.random() < 0.7:
        cx, cy, _ = _near_edge(f, rng, 0.04 * s)
    else:
        cx, cy = _point(f, rng, 0.02)
    a, b = s * rng.uniform(0.008, 0.03, size=2) + 1.0
    yy, xx = _grid(f.shape)
    d = np.sqrt(((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2)
    return f * (1.0 - rng.uniform(0.35, 0.8) * np.clip(1.0 - d, 0.0, 1.0) ** 0.5)


def _edge_crack(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A short crack running in from the tile edge."""
    s = min(f.shape)
    x, y, side = _near_edge(f, rng, 2.0)
    angle = (np.pi / 2, np.pi, -np.pi / 2, 0.0)[side] + rng.normal(0.0, 0.35)  # inward
    step = s * rng.uniform(0.008, 0.025)
    pts = _walk(f, rng, int(rng.integers(3, 12)), step, 0.4, start=(x, y, angle))
    line = np.zeros(f.shape, np.uint8)
    cv2.polylines(line, [pts], False, 255, int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
    return _darken(f, rng, line)


def _walk(f: np.ndarray, rng: np.random.Generator, steps: int, step: float, turn: float,
          start: tuple[float, float, float] | None = None) -> np.ndarray:
    """A random-walk polyline (cv2 points, 4 fractional bits) from `start` (x, y, angle) or a
    random point and heading."""
    if start is None:
        x, y = _point(f, rng, 0.05)
        angle = rng.uniform(0, 2 * np.pi)
    else:
        x, y, angle = start
    pts = [(x, y)]
    for _ in range(steps):
        angle += rng.normal(0.0, turn)
        x, y = x + step * np.cos(angle), y + step * np.sin(angle)
        pts.append((x, y))
    return np.round(np.array(pts) * 16).astype(np.int32)  # 4 fractional bits for cv2


def _crack(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crack: a thin dark random-walk polyline, sometimes with a branch."""
    s = min(f.shape)
    line = np.zeros(f.shape, np.uint8)
    for _ in range(1 + int(rng.random() < 0.3)):
        pts = _walk(f, rng, int(rng.integers(6, 25)), s * rng.uniform(0.015, 0.04), 0.45)
        cv2.polylines(line, [pts], False, 255, int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
    return _darken(f, rng, line)


def _darken(f: np.ndarray, rng: np.random.Generator, line: np.ndarray) -> np.ndarray:
    """Darken the surface along a drawn crack line (uint8, 255 on the line)."""
    return f * (1.0 - rng.uniform(0.35, 0.8) * line.astype(np.float32) / 255.0)


def _scratch(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scratch: a straight or gently curved thin line, brighter or darker than the surface."""
    s = min(f.shape)
    line = np.zeros(f.shape, np.uint8)
    pts = _walk(f, rng, int(rng.integers(3, 8)), s * rng.uniform(0.04, 0.1), 0.08)
    cv2.polylines(line, [pts], False, 255, int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return f + sign * rng.uniform(25, 60) * line.astype(np.float32) / 255.0


def _edge_polygon(f: np.ndarray, rng: np.random.Generator, depth: float) -> np.ndarray:
    """Vertices of an irregular chunk whose base lies on a random image edge."""
    h, w = f.shape
    side = int(rng.integers(4))
    length = (w if side % 2 == 0 else h)
    span = length * rng.uniform(0.1, 0.45)
    start = rng.uniform(-0.1 * length, length - 0.5 * span)
    n = int(rng.integers(2, 5))
    along = np.sort(rng.uniform(start, start + span, n))
    inward = rng.uniform(0.3, 1.0, n) * depth
    pts = [(start, -2.0), *zip(along, inward, strict=True), (start + span, -2.0)]
    out = []
    for a, d in pts:
        if side == 0:
            out.append((a, d))
        elif side == 1:
            out.append((w - 1 - d, a))
        elif side == 2:
            out.append((a, h - 1 - d))
        else:
            out.append((d, a))
    return np.round(np.array(out) * 16).astype(np.int32)


def _break(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An edge break: a chunk missing at the tile edge, showing the dark background."""
    region = np.zeros(f.shape, np.uint8)
    poly = _edge_polygon(f, rng, min(f.shape) * rng.uniform(0.06, 0.25))
    cv2.fillPoly(region, [poly], 255, cv2.LINE_8, shift=4)
    background = rng.uniform(5, 40) + rng.normal(0, 3, f.shape)
    return np.where(region > 0, background, f)


def _fray(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fray: a band along an edge with ragged dark texture."""
    band = np.zeros(f.shape, np.uint8)
    cv2.fillPoly(band, [_edge_polygon(f, rng, min(f.shape) * rng.uniform(0.05, 0.14))], 255,
                 cv2.LINE_8, shift=4)
    noise = cv2.GaussianBlur(rng.normal(0, 1, f.shape).astype(np.float32), (0, 0), 1.2)
    texture = np.clip(np.abs(noise) * rng.uniform(2.5, 4.5), 0.0, 1.0)  # blurred std is ~0.23
    return f * (1.0 - rng.uniform(0.5, 0.85) * texture * (band > 0))


def _patch(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """CutPaste: a piece of the image, flipped/rotated and brightness-shifted, pasted elsewhere."""
    h, w = f.shape
    ph = max(4, int(h * rng.uniform(0.08, 0.3)))
    pw = max(4, int(w * rng.uniform(0.08, 0.3)))
    sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    piece = np.rot90(f[sy:sy + ph, sx:sx + pw], 2 * int(rng.integers(2)))
    if rng.random() < 0.5:
        piece = piece[:, ::-1]
    shift = rng.choice([-1.0, 1.0]) * rng.uniform(15, 45)
    ty, tx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    shape = np.zeros((ph, pw), np.uint8)
    cv2.ellipse(shape, (pw // 2, ph // 2), (max(1, pw // 2), max(1, ph // 2)), 0, 0, 360, 255, -1)
    out = f.copy()
    region = out[ty:ty + ph, tx:tx + pw]
    region[...] = np.where(shape > 0, piece + shift, region)
    return out


def _uneven(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven surface: a large soft region of changed brightness."""
    s = min(f.shape)
    cx, cy = _point(f, rng, 0.0)
    sx, sy = s * rng.uniform(0.08, 0.25, size=2)
    yy, xx = _grid(f.shape)
    blob = np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    gain = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.45)
    return f * (1.0 + gain * blob)


def _step(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stepped surface: a band in from an edge (or an island) at another brightness and
    contrast, with streaks running across its boundary, like a face ground to another level."""
    # Real tiles are ground along one axis and their steps cross the streaks: mostly top or bottom.
    k = int(rng.choice(4, p=(0.425, 0.075, 0.425, 0.075)))
    g = np.rot90(f, -k)  # drawn as a band from the top edge, then turned back to side k
    h, w = g.shape
    yy, xx = _grid(g.shape)
    if rng.random() < 0.75:
        depth = h * rng.uniform(0.08, 0.4)
        wave = cv2.GaussianBlur(rng.normal(0, 1, (1, w)).astype(np.float32), (0, 0), w / 8)[0]
        wave *= h * rng.uniform(0.01, 0.04) / (np.abs(wave).max() + 1e-6)
        slope = depth * rng.uniform(-0.3, 0.3) * (xx[0] / max(w - 1, 1) - 0.5)
        edge = depth + slope + wave
        start, span = (0.0, w) if rng.random() < 0.6 else (rng.uniform(0, 0.5 * w), w * rng.uniform(0.3, 0.6))
        region = (yy < edge[None, :]) & (xx >= start) & (xx < start + span)
    else:
        cy, cx = rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)
        ry, rx = h * rng.uniform(0.06, 0.2), w * rng.uniform(0.1, 0.3)
        region = (np.abs(yy - cy) / ry) ** 4 + (np.abs(xx - cx) / rx) ** 4 < 1.0  # a rounded box
    if not region.any():
        return f
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), rng.uniform(0.6, 2.0))
    mean = float(g[region].mean())
    shift = (1.0 if rng.random() < 0.7 else -1.0) * rng.uniform(6, 35)
    streaks = cv2.GaussianBlur(rng.normal(0, 1, (1, w)).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
    streaks = streaks / (streaks.std() + 1e-6) * rng.uniform(2, 8)
    new = mean + (g - mean) * rng.uniform(0.9, 1.6) + shift + streaks
    out = g + soft * (new - g)
    if rng.random() < 0.5:  # the step's edge often shows as a faint line
        rim = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        out = out - rng.uniform(8, 20) * rim
    return np.rot90(out, k)


_DRAWERS = {"hole": _hole, "crack": _crack, "scratch": _scratch, "break": _break, "fray": _fray,
            "patch": _patch, "uneven": _uneven, "step": _step, "pit": _pit, "edge_crack": _edge_crack}

"""Drawing for the simulated line: belt texture, DataMatrix labels, the indexing motion profile."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

LABEL_GRAY = 245
_MARGIN = 8
_GAP = 12


@dataclass(frozen=True)
class Layout:
    """Where things go in a frame of the simulated line (pixels; x of the tile box's left edge)."""

    width: int
    height: int
    box_w: int      # the tile is fitted into this box, keeping its aspect ratio
    box_h: int
    box_y: int
    centre_x: int   # box left edge while the part rests in the centre
    start_x: int    # fully off-screen left
    end_x: int      # fully off-screen right
    label_gap: int

    @classmethod
    def for_frame(cls, width: int, height: int, label_w: int) -> Layout:
        box_w, box_h = int(width * 0.40), int(height * 0.55)
        span = box_w + (_GAP + label_w if label_w else 0)
        return cls(
            width=width,
            height=height,
            box_w=box_w,
            box_h=box_h,
            box_y=(height - box_h) // 2,
            centre_x=(width - box_w) // 2,
            start_x=-span - 2,
            end_x=width + 2,
            label_gap=_GAP,
        )


def smoothstep(x: float) -> float:
    """0..1 with zero speed at both ends: a conveyor accelerating and braking."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def box_x_at(u: float, cycle: float, dwell: float, layout: Layout) -> float:
    """Box left edge at time u (0 <= u < cycle) into a part's cycle: in, rest, out."""
    half = (cycle - dwell) / 2.0
    if u < half:
        return layout.start_x + (layout.centre_x - layout.start_x) * smoothstep(u / half)
    if u < half + dwell:
        return float(layout.centre_x)
    out = smoothstep((u - half - dwell) / half)
    return layout.centre_x + (layout.end_x - layout.centre_x) * out


# Mean grey of the belt: black, below the darkest rim of the sample tiles (their edge columns
# go down to ~12), so a dark-belt trim keeps each tile whole. At 24 the belt was brighter than
# many tile rims and the trim cut them off, defects at the edge included.
BELT_LEVEL = 4.0
BELT_TEXTURE = 1.0  # grey levels of blotches, weave and grain each: a black belt shows little


def belt_texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A black belt with a faint weave and blotches, tiled twice so a window can scroll over it.

    Black, as line-side stations choose a belt darker than any part they inspect.
    """
    # Low-pass filtering in the Fourier domain keeps the texture periodic: no seam when tiled.
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    lowpass = np.exp(-(fx**2 + fy**2) / (2 * 0.02**2))
    spectrum = np.fft.fft2(rng.normal(0.0, 1.0, size=(height, width))) * lowpass
    blotches = np.real(np.fft.ifft2(spectrum))
    blotches /= blotches.std() + 1e-9
    weave = np.sin(np.arange(height) * (2 * np.pi / 6.0))[:, None]
    grain = rng.normal(0.0, 1.0, size=(height, width))
    texture = BELT_TEXTURE * (blotches + weave + grain)
    tile = np.clip(BELT_LEVEL + texture, 0, 255).astype(np.uint8)
    return np.hstack([tile, tile])


def noise_bank(height: int, width: int, rng: np.random.Generator, n: int = 8) -> np.ndarray:
    """Precomputed sensor noise frames (int16): drawing fresh noise per frame costs too much."""
    return np.round(rng.normal(0.0, 2.0, size=(n, height, width))).astype(np.int16)


def datamatrix(text: str, scale: int) -> np.ndarray:
    """A DataMatrix symbol (with its quiet zone) as a uint8 gray image."""
    if hasattr(zxingcpp, "create_barcode"):  # zxing-cpp >= 2.3
        code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix)
        return np.asarray(code.to_image(scale=scale, add_quiet_zones=True), dtype=np.uint8)
    image = zxingcpp.write_barcode(zxingcpp.BarcodeFormat.DataMatrix, text, quiet_zone=1)
    small = np.asarray(image, dtype=np.uint8)
    return cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def label_image(serial: str, scale: int) -> np.ndarray:
    """A white label: the DataMatrix code with the serial printed below it."""
    code = datamatrix(serial, scale)
    font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (text_w, text_h), _ = cv2.getTextSize(serial, font, font_scale, 1)
    width = max(code.shape[1], text_w) + 2 * _MARGIN
    height = code.shape[0] + text_h + 3 * _MARGIN
    label = np.full((height, width), LABEL_GRAY, dtype=np.uint8)
    x = (width - code.shape[1]) // 2
    label[_MARGIN : _MARGIN + code.shape[0], x : x + code.shape[1]] = code
    cv2.putText(label, serial, ((width - text_w) // 2, height - _MARGIN), font, font_scale, 30, 1,
                cv2.LINE_AA)
    return label


def fit_into(image: np.ndarray, box_w: int, box_h: int) -> np.ndarray:
    """Resize to fit the box, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = min(box_w / w, box_h / h)
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    """Copy image onto canvas at (x, y), clipped to the canvas."""
    h, w = image.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]

"""In-frame code reader: DataMatrix (ECC 200), QR and Code 128 decoded with zxing-cpp."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable

import cv2
import numpy as np
import zxingcpp

from inspector.domain import Frame, SerialSource, Trigger
from inspector.serials.base import CodeHit, SerialRead, clean_serial, no_read
from inspector.serials.config import CodeReaderConfig, Region

logger = logging.getLogger(__name__)

FORMATS = {
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "code128": zxingcpp.BarcodeFormat.Code128,
}
_CLAHE_CLIP = 3.0


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale view of a gray or BGR frame (zxing-cpp binarizes luminance anyway)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


# A retry pass turns the crop into another image and says how (a 2x3 affine from crop to image
# coordinates), so hits are mapped back to the frame.
Prepared = tuple[np.ndarray, np.ndarray]
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _denoise(gray: np.ndarray) -> Prepared:
    return cv2.GaussianBlur(gray, (0, 0), 1.0), _IDENTITY


def _rotate(gray: np.ndarray, angle: float, smooth: bool = False) -> Prepared:
    # zxing-cpp's DataMatrix detector misses some angles (around 20-25 degrees off an axis);
    # the same code turned by 45 or 22.5 degrees is found
    h, w = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[0, 2] += nw / 2.0 - w / 2.0
    matrix[1, 2] += nh / 2.0 - h / 2.0
    image = cv2.warpAffine(gray, matrix, (nw, nh), borderMode=cv2.BORDER_REPLICATE)
    return (cv2.GaussianBlur(image, (0, 0), 1.0) if smooth else image), matrix


def _upscale(gray: np.ndarray) -> Prepared:
    # small modules: interpolate up, then smooth the noise the interpolation kept
    image = cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (0, 0), 1.5), np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])


def _upscale_sharpen(gray: np.ndarray) -> Prepared:
    # tiny, blurred modules: after smoothing, an unsharp mask restores the module edges
    image, matrix = _upscale(gray)
    blurred = cv2.GaussianBlur(image, (0, 0), 4.0)
    return cv2.addWeighted(image, 2.5, blurred, -1.5, 0), matrix


def _stretch(gray: np.ndarray) -> Prepared:
    clahe = cv2.createCLAHE(clipLimit=_CLAHE_CLIP, tileGridSize=(8, 8))
    return clahe.apply(cv2.GaussianBlur(gray, (0, 0), 1.0)), _IDENTITY


HARDER_PASSES: tuple[Callable[[np.ndarray], Prepared], ...] = (
    _denoise,
    lambda g: _rotate(g, 45.0),
    lambda g: _rotate(g, 45.0, smooth=True),
    _upscale,
    _upscale_sharpen,
    lambda g: _rotate(g, 22.5),
    _stretch,
)


class CodeReader:
    """Finds the part's serial among the codes in the frame (or in a configured region of it)."""

    source = SerialSource.CODE

    def __init__(self, config: CodeReaderConfig) -> None:
        self.config = config
        self._formats = tuple(FORMATS[name] for name in config.formats)
        self._pattern = re.compile(config.pattern) if config.pattern else None
        self.reads = 0
        self.no_reads = 0
        self._count_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: CodeReaderConfig) -> CodeReader:
        """Build a reader from its config model."""
        return cls(config)

    @property
    def no_read_rate(self) -> float:
        """Share of parts without a serial since start (a station metric)."""
        total = self.reads + self.no_reads
        return self.no_reads / total if total else 0.0

    def read(self, frame: Frame | None, trigger: Trigger | None = None) -> SerialRead:
        """Decode the frame's codes and pick the serial; never raises on a bad picture."""
        t0 = time.perf_counter()
        image = None if frame is None else frame.image
        result = no_read("no frame for this part") if image is None else self.read_image(image)
        ms = (time.perf_counter() - t0) * 1000.0
        with self._count_lock:  # several inference threads read serials side by side
            if result.serial is None:
                self.no_reads += 1
            else:
                self.reads += 1
        return SerialRead(result.serial, result.source, result.codes, ms, result.reason)

    def read_image(self, image: np.ndarray) -> SerialRead:
        """Decode one image (gray or BGR); the returned ms covers decoding only."""
        t0 = time.perf_counter()
        gray = to_gray(image)
        crop, (ox, oy) = self._crop(gray)
        hits = self._decode(crop, ox, oy)
        if not self._matching(hits) and self.config.try_harder:
            hits = self._decode_harder(crop, ox, oy, hits, t0)
        serial, reason = self._pick(self._matching(hits), gray.shape[1], gray.shape[0])
        ms = (time.perf_counter() - t0) * 1000.0
        if serial is None:
            return no_read(reason or "no code", tuple(hits), ms)
        return SerialRead(serial, SerialSource.CODE, tuple(hits), ms)

    def _crop(self, gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        if self.config.roi is None:
            return gray, (0, 0)
        x0, y0, x1, y1 = self.config.roi.to_pixels(gray.shape[1], gray.shape[0])
        return gray[y0:y1, x0:x1], (x0, y0)

    def _decode(
        self, gray: np.ndarray, ox: int, oy: int, matrix: np.ndarray = _IDENTITY
    ) -> list[CodeHit]:
        cfg = self.config
        found = zxingcpp.read_barcodes(
            np.ascontiguousarray(gray), formats=self._formats, try_rotate=cfg.try_rotate,
            try_downscale=cfg.try_downscale, try_invert=cfg.try_invert,
        )
        return [_hit(code, ox, oy, matrix) for code in found if code.valid]

    def _decode_harder(
        self, crop: np.ndarray, ox: int, oy: int, hits: list[CodeHit], t0: float
    ) -> list[CodeHit]:
        """Retry passes for noisy, blurred, low-contrast, tiny or awkwardly turned codes."""
        budget_s = self.config.harder_budget_ms / 1000.0
        for prepare in HARDER_PASSES:
            if time.perf_counter() - t0 > budget_s:
                break
            image, matrix = prepare(crop)
            extra = self._decode(image, ox, oy, matrix)
            hits = _merge(hits, extra)
            if self._matching(extra):
                break
        return hits

    def _matching(self, hits: Iterable[CodeHit]) -> list[CodeHit]:
        out = []
        for hit in hits:
            text = clean_serial(hit.text)
            if text is None:
                continue
            if self._pattern is None or self._pattern.fullmatch(text):
                out.append(hit)
        return out

    def _pick(self, hits: list[CodeHit], width: int, height: int) -> tuple[str | None, str | None]:
        if not hits:
            return None, "no code found" if self._pattern is None else "no code matches pattern"
        if self.config.pick_region is not None:
            hits = [h for h in hits if _inside(h, self.config.pick_region, width, height)]
            if not hits:
                return None, "no matching code inside pick_region"
        texts = {clean_serial(h.text) for h in hits}
        if len(texts) == 1:
            return texts.pop(), None
        if self.config.on_multiple == "largest":
            return clean_serial(max(hits, key=lambda h: h.area).text), None
        if self.config.on_multiple == "top_left":
            return clean_serial(min(hits, key=lambda h: (h.box[1], h.box[0])).text), None
        return None, f"{len(texts)} different codes match; set pattern, pick_region or on_multiple"


def _hit(code: zxingcpp.Barcode, ox: int, oy: int, matrix: np.ndarray) -> CodeHit:
    """A hit in frame coordinates; `matrix` maps crop to decoded-image coordinates."""
    inverse = cv2.invertAffineTransform(matrix)
    turned = math.degrees(math.atan2(matrix[0, 1], matrix[0, 0]))  # a rotation pass's angle
    orientation = int((code.orientation + round(turned) + 180) % 360 - 180)
    pos = code.position
    corners = np.array(
        [[p.x, p.y, 1.0] for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
    )
    xy = corners @ inverse.T  # back to crop coordinates
    box = (
        ox + int(xy[:, 0].min()), oy + int(xy[:, 1].min()),
        ox + round(float(xy[:, 0].max())), oy + round(float(xy[:, 1].max())),
    )
    return CodeHit(text=code.text, format=code.format.name, box=box, orientation=orientation)


def _merge(old: list[CodeHit], new: list[CodeHit]) -> list[CodeHit]:
    """Union of hits; the same text in about the same place counts once."""
    out = list(old)
    for hit in new:
        if not any(h.text == hit.text and _near(h, hit) for h in out):
            out.append(hit)
    return out


def _near(a: CodeHit, b: CodeHit) -> bool:
    (ax, ay), (bx, by) = a.center, b.center
    size = max(8.0, (a.area ** 0.5 + b.area ** 0.5) / 2)
    return abs(ax - bx) < size and abs(ay - by) < size


def _inside(hit: CodeHit, region: Region, width: int, height: int) -> bool:
    x0, y0, x1, y1 = region.to_pixels(width, height)
    cx, cy = hit.center
    return x0 <= cx < x1 and y0 <= cy < y1

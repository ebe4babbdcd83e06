"""Broken inputs a line sees: blank, dark, saturated, blurred, tiny, damaged and huge files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import SAMPLE

TILES = sorted(SAMPLE.glob("images/*/*.jpg"))


def huge_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A small PNG file whose header announces width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 8, 9)  # a few rows: enough to start decoding
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def damaged(data: bytes, seed: int) -> bytes:
    """64 random bytes written over three places past the header, as a bad disk or cable does."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for _ in range(3):
        at = int(rng.integers(len(out) // 10, len(out) - 64))
        out[at:at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    return bytes(out)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def write_faults(folder: Path) -> dict[str, str]:
    """Write one file per fault into `folder`; returns {file name: the fault it shows}."""
    folder.mkdir(parents=True, exist_ok=True)
    tile = cv2.imread(str(TILES[0]), cv2.IMREAD_GRAYSCALE)
    jpeg = TILES[0].read_bytes()
    torn = tile.copy()
    torn[tile.shape[0] // 3:] = 128  # the rest of a transfer that never arrived
    files = {
        "blank-grey.png": (_png(np.full_like(tile, 128)), "blank"),
        "black.png": (_png(np.zeros_like(tile)), "black"),
        "saturated.png": (_png(np.full_like(tile, 255)), "saturated"),
        "lamp-dying.png": (_png((tile * 0.08).astype(np.uint8)), "under-exposed"),
        "blurred.png": (_png(cv2.GaussianBlur(tile, (0, 0), 4)), "out of focus"),
        "one-pixel.png": (_png(np.zeros((1, 1), np.uint8)), "1x1"),
        "torn.png": (_png(torn), "torn transfer"),
        "truncated.jpg": (jpeg[: len(jpeg) * 2 // 5], "truncated"),
        "zero-byte.jpg": (b"", "zero bytes"),
        "bitflip-1.jpg": (damaged(jpeg, 1), "bit-flipped JPEG"),
        "bitflip-2.jpg": (damaged(jpeg, 2), "bit-flipped JPEG"),
        "bitflip.png": (damaged(_png(tile), 3), "bit-flipped PNG"),
        "huge.png": (huge_png(), "60000x60000"),
        "not-an-image.png": (b"serial,part\nA1,2\n" * 50, "not an image"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: fault for name, (_, fault) in files.items()}

"""The SerialReader protocol and the frozen results it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from inspector.domain import Frame, SerialSource, Trigger

MAX_SERIAL_LEN = 128


@dataclass(frozen=True)
class CodeHit:
    """One code found in a frame, in full-frame pixel coordinates."""

    text: str
    format: str                                  # "DataMatrix", "QRCode", "Code128"
    box: tuple[int, int, int, int]               # x0, y0, x1, y1 (axis-aligned hull)
    orientation: int = 0                         # degrees, as zxing-cpp reports it

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the code's box (x, y)."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0

    @property
    def area(self) -> int:
        """Area of the code's box in pixels (used to pick the largest code)."""
        x0, y0, x1, y1 = self.box
        return max(0, x1 - x0) * max(0, y1 - y0)


@dataclass(frozen=True)
class SerialRead:
    """What a serial reader made of one part: the serial (None = no read) and where it came from."""

    serial: str | None
    source: SerialSource
    codes: tuple[CodeHit, ...] = ()
    ms: float = 0.0
    reason: str | None = None                    # why there is no serial (for logs and metrics)

    @property
    def ok(self) -> bool:
        """True when a serial was obtained."""
        return self.serial is not None


class SerialReader(Protocol):
    """Finds the serial of one part: in the frame, in the trigger message, or in the file name."""

    source: SerialSource                         # what a successful read is recorded as

    def read(self, frame: Frame | None, trigger: Trigger | None = None) -> SerialRead:
        """Return the part's serial, or serial=None with source NO_READ and a reason."""
        ...


def clean_serial(text: str | None) -> str | None:
    """Strip a candidate serial; None when empty, too long or holding control characters."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > MAX_SERIAL_LEN or not text.isprintable():
        return None
    return text


def no_read(reason: str, codes: tuple[CodeHit, ...] = (), ms: float = 0.0) -> SerialRead:
    """A SerialRead without a serial; the station gives the part a generated id marked no_read."""
    return SerialRead(serial=None, source=SerialSource.NO_READ, codes=codes, ms=ms, reason=reason)

"""SerialResolver: gives every triggered part a serial, from a SerialReader or generated."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2

from inspector.domain import SerialSource, Trigger
from inspector.errors import SerialError
from inspector.serials.base import SerialReader, clean_serial

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartSerial:
    """The serial recorded for one part and where it came from."""

    serial: str
    source: SerialSource
    reason: str | None = None  # why a reader found none (no_read)


class SerialResolver:
    """Asks the configured reader; without one, uses what the part carries or a generated id.

    Without a reader the trigger's serial (PLC/MES) wins, then the source's manifest hint,
    then a generated id (the part id, so the row is easy to find). A configured reader that
    finds nothing gives the generated id with serial_source `no_read`.
    """

    def __init__(self, reader: SerialReader | None = None) -> None:
        self.reader = reader

    def resolve(self, trigger: Trigger) -> PartSerial:
        if self.reader is None:
            return self._without_reader(trigger)
        try:
            read = self.reader.read(trigger.frame, trigger)
        except (SerialError, ValueError, cv2.error) as exc:
            logger.warning("serial reader failed on part %s: %s", trigger.part_id, exc)
            return PartSerial(trigger.part_id, SerialSource.NO_READ, f"reader failed: {exc}")
        if read.serial is None:
            return PartSerial(trigger.part_id, SerialSource.NO_READ, read.reason)
        return PartSerial(read.serial, read.source)

    @staticmethod
    def _without_reader(trigger: Trigger) -> PartSerial:
        serial = clean_serial(trigger.serial)
        if serial is not None:
            return PartSerial(serial, SerialSource.TRIGGER)
        hint = clean_serial(trigger.frame.serial_hint) if trigger.frame is not None else None
        if hint is not None:
            return PartSerial(hint, SerialSource.MANIFEST)
        return PartSerial(trigger.part_id, SerialSource.GENERATED)


def build_serial_resolver(cfg) -> SerialResolver:
    """A resolver for the `serial:` config section (`generated` needs no reader)."""
    if cfg.type == "generated":
        return SerialResolver(None)
    from inspector.serials.registry import build_reader

    return SerialResolver(build_reader(cfg))

"""Serial handed over with the external trigger (PLC / MES message)."""

from __future__ import annotations

import re
import time

from inspector.domain import Frame, SerialSource, Trigger
from inspector.serials.base import SerialRead, clean_serial, no_read
from inspector.serials.config import TriggerReaderConfig


class TriggerSerialReader:
    """Takes the serial from the trigger; checks it against an optional pattern."""

    source = SerialSource.TRIGGER

    def __init__(self, config: TriggerReaderConfig) -> None:
        self.config = config
        self._pattern = re.compile(config.pattern) if config.pattern else None

    @classmethod
    def from_config(cls, config: TriggerReaderConfig) -> TriggerSerialReader:
        """Build a reader from its config model."""
        return cls(config)

    def read(self, frame: Frame | None, trigger: Trigger | None = None) -> SerialRead:
        """The trigger's serial, or a no-read saying why there is none."""
        t0 = time.perf_counter()
        if trigger is None or trigger.serial is None:
            return no_read("the trigger carried no serial")
        serial = clean_serial(trigger.serial)
        if serial is None:
            return no_read(f"the trigger's serial {trigger.serial!r} is empty or malformed")
        if self._pattern is not None and not self._pattern.fullmatch(serial):
            return no_read(f"the trigger's serial {serial!r} does not match the pattern")
        return SerialRead(serial, SerialSource.TRIGGER, ms=(time.perf_counter() - t0) * 1000.0)

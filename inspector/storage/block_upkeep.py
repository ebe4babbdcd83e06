"""A daemon thread that builds root-cause hour blocks ahead, so a month's root cause reads a warm cache."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from inspector.storage.rootcause_blocks import HourBlocks
from inspector.storage.upkeep_thread import UpkeepThread

logger = logging.getLogger(__name__)

UPKEEP_DAYS = 30        # root cause's longest usual window
UPKEEP_EVERY_S = 600.0  # an hour closes every hour: ten minutes late at most
# Between two blocks it waits this many times as long as the last one took to build: on a
# station, a first run over a month of history takes at most a fifth of one core.
PAUSE_FACTOR = 4.0


class BlockUpkeep(UpkeepThread):
    """Builds and caches the blocks of every hour over in the last `days` days whose cached
    block is missing or stale (newest first), one at a time and paced, and drops older ones;
    failures are logged and retried next round."""

    def __init__(self, engine: Engine, days: int = UPKEEP_DAYS,
                 every_s: float = UPKEEP_EVERY_S, pause_factor: float = PAUSE_FACTOR) -> None:
        super().__init__("rootcause-blocks", every_s)
        self._blocks = HourBlocks(engine)
        self._days = days
        self._pause_factor = pause_factor

    def run_once(self) -> int:
        """One round: older blocks dropped, every missing or stale one of the window built;
        the number built."""
        since = datetime.now(UTC) - timedelta(days=self._days)
        # older hours are asked for rarely: their blocks are built again when they are, and a
        # station's disk does not keep a year of them
        dropped = self._blocks.prune(since)
        built = 0
        for station, hour in self._blocks.stale(since):
            t0 = time.monotonic()
            self._blocks.build_and_cache(station, hour)
            built += 1
            if self._stop.wait(self._pause_factor * (time.monotonic() - t0)):
                break
        if built or dropped:
            logger.info("root-cause hour blocks: %d built and cached, %d older dropped", built,
                        dropped)
        return built

    def _round(self) -> None:
        self.run_once()

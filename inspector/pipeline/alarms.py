"""AlarmWatch: raises and clears station alarms (camera, store, deadline) on every output."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from inspector.domain import Alarm
from inspector.pipeline.metrics import StationMetrics
from inspector.pipeline.workers import Worker

logger = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5
DEADLINE_QUIET_S = 10.0  # a deadline alarm clears after this long without a new late part
OFFLINE_STATES = ("camera_offline", "reconnecting")


class AlarmWatch(Worker):
    """Watches the station's metrics and tells each output (that can) when an alarm changes.

    An alarm is raised once when its condition starts and cleared once when it ends, so a
    flapping camera does not flood the line; a raised alarm shows in the metrics meanwhile.
    """

    name = "alarms"

    def __init__(self, station_id: str, outputs: Sequence[object],
                 metrics: Callable[[], StationMetrics], until: Callable[[], bool],
                 stopping: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.station_id = station_id
        self.outputs = [o for o in outputs if callable(getattr(o, "alarm", None))]
        self.metrics, self.until, self.stopping = metrics, until, stopping
        self.active: dict[str, str] = {}
        self.raised = 0
        self._lock = threading.Lock()
        self._late_seen = 0
        self._late_quiet = 0.0
        self._wake = threading.Event()

    def run(self) -> None:
        while not self.until():
            self.check(self.metrics())
            self._wake.wait(CHECK_EVERY_S)
        self.check(self.metrics())  # a run shorter than one period still reports its alarms

    def wake(self) -> None:
        """Check now: the station calls it once the pipeline has ended, so the watch's last check
        and its end come at once instead of up to CHECK_EVERY_S later (a stop's wait, and every
        flat-out benchmark's wall time, took up to 0.5 s longer)."""
        self._wake.set()

    def check(self, m: StationMetrics) -> None:
        """Compare the conditions with the raised alarms and announce every change."""
        if not self.stopping():  # a stopping station closes its camera on purpose
            self._set("camera_offline", m.camera_state in OFFLINE_STATES,
                      f"camera {m.camera_state}: {m.extra.get('source_error') or 'no new frames'}")
        self._set("store_unreachable", not m.db_online,
                  f"database unreachable, {m.journal_pending} rows journaled: {m.last_error}")
        late = m.drops.get("late", 0)
        if late > self._late_seen:
            self._late_quiet = DEADLINE_QUIET_S / CHECK_EVERY_S
            self._set("deadline_missed", True, f"{late - self._late_seen} parts missed the verdict "
                      f"deadline ({late} in this run)")
            self._late_seen = late
        elif self._late_quiet > 0:
            self._late_quiet -= 1
            if self._late_quiet <= 0:
                self._set("deadline_missed", False, "verdicts on time again")

    def active_kinds(self) -> list[str]:
        with self._lock:
            return sorted(self.active)

    def _set(self, kind: str, on: bool, message: str) -> None:
        """Raise or clear `kind`; only a change is announced (a raised alarm's text is updated)."""
        with self._lock:
            was = kind in self.active
            if on:
                self.active[kind] = message
            else:
                self.active.pop(kind, None)
        if on == was:
            return
        self.raised += on
        self._announce(Alarm(kind, on, message, self.station_id, datetime.now(UTC)))

    def _announce(self, alarm: Alarm) -> None:
        log = logger.error if alarm.active else logger.warning
        log("alarm %s %s: %s", alarm.kind, "raised" if alarm.active else "cleared", alarm.message)
        for output in self.outputs:
            try:
                output.alarm(alarm)
            except Exception:  # a plug-in boundary: an output's failure never stops the watch
                logger.exception("output %s failed on alarm %s", type(output).__name__, alarm.kind)

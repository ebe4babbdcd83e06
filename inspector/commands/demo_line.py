"""The demo's line story: a preloaded history, upstream events for live parts, the cause found."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from inspector.capture.simulated import SimPart
from inspector.domain import Status, Verdict
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.store import InspectionStore
from inspector.trace.config import RootCauseConfig
from inspector.trace.rootcause import Finding, RootCauseReport, root_cause
from inspector.trace.simulate import (
    STEP_OFFSETS_MIN,
    LineSpec,
    PlantedCause,
    SimulatedPart,
    simulate,
    to_inspection,
)

logger = logging.getLogger(__name__)

HISTORY_PARTS = 3_000
HISTORY_CYCLE_S = 6.0
HISTORY_PREFIX = "H"
WRITE_CHUNK = 5_000          # rows per store call while preloading
LIVE_CHUNK = 500             # live parts per simulated drift ramp (the kiln is recalibrated)
FEED_QUEUE = 10_000          # live events waiting for the database; full: dropped and counted
FEED_FLUSH_S = 0.25
ALL_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class HistoryResult:
    parts: int
    events: int
    seconds: float
    already_loaded: bool


def preload_history(
    store: InspectionStore, events: EventStore, spec: LineSpec, now: datetime | None = None
) -> HistoryResult:
    """Write `spec.parts` earlier simulated parts (rows + upstream events) ending before now.

    Idempotent: when the first history part is already stored (an earlier demo run on the
    same database), nothing is written again.
    """
    t0 = time.perf_counter()
    first = f"{spec.station_id}-{spec.serial_prefix}{spec.seed:03d}{0:08d}"
    if store.get(first) is not None:
        return HistoryResult(spec.parts, 0, time.perf_counter() - t0, already_loaded=True)
    now = now or datetime.now(UTC)
    camera = timedelta(minutes=STEP_OFFSETS_MIN["camera"])
    start = now - camera - timedelta(seconds=spec.parts * spec.cycle_s)
    parts = list(simulate(dataclasses.replace(spec, start=start)))
    rows = [to_inspection(p, spec.station_id) for p in parts]
    evs = [e for p in parts for e in p.events]
    for i in range(0, len(evs), WRITE_CHUNK):
        events.insert(evs[i:i + WRITE_CHUNK])
    for i in range(0, len(rows), WRITE_CHUNK):
        store.write(rows[i:i + WRITE_CHUNK])
    return HistoryResult(len(parts), len(evs), time.perf_counter() - t0, already_loaded=False)


class UpstreamFeed:
    """The machines before the camera, for the parts the simulated line presents live.

    `plan(serial)` (the SimulatedLine's part plan) draws the part's process history from the
    same simulator and planted cause as the preloaded history, queues its events under the
    serial printed on the part, and returns the simulated outcome: the class of the tile the
    camera will see. A writer thread stores the queued events.
    """

    def __init__(self, events: EventStore, cause: PlantedCause | None, seed: int = 1) -> None:
        self._events = events
        self._cause = cause
        self._seed = seed
        self._parts: Iterator[SimulatedPart] = self._simulated()
        self._queue: queue.Queue[ProcessEvent] = queue.Queue(maxsize=FEED_QUEUE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.planned = 0
        self.stored = 0
        self.dropped = 0     # events lost to a full queue (policy: drop newest, counted)

    def _simulated(self) -> Iterator[SimulatedPart]:
        for n in itertools.count():
            spec = LineSpec(parts=LIVE_CHUNK, seed=self._seed + n, cause=self._cause)
            yield from simulate(spec)

    def plan(self, serial: str) -> str:
        """The class of the part carrying `serial`; its upstream events are queued (capture thread)."""
        part = next(self._parts)
        shift = datetime.now(UTC) - part.inspected_at   # it reaches the camera now
        for event in part.events:
            try:
                self._queue.put_nowait(dataclasses.replace(event, serial=serial,
                                                           ts=event.ts + shift))
            except queue.Full:
                self.dropped += 1
        self.planned += 1
        return part.label

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_loop, name="demo-upstream",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then end the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take()
            if not batch:
                continue
            try:
                self.stored += self._events.insert(batch)
            except Exception:  # worker top: log and go on, the demo must not die of it
                logger.exception("demo: cannot store %d upstream events", len(batch))

    def _take(self) -> list[ProcessEvent]:
        batch: list[ProcessEvent] = []
        try:
            batch.append(self._queue.get(timeout=FEED_FLUSH_S))
            while len(batch) < WRITE_CHUNK:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch


def analyse(events: EventStore, config: RootCauseConfig | None = None) -> RootCauseReport:
    """Root cause over everything in the demo database (history and live parts)."""
    return root_cause(events, ALL_TIME, datetime.now(UTC) + timedelta(minutes=1), None, config)


def top_finding(report: RootCauseReport) -> dict[str, Any] | None:
    """{kind, name, lift, q_value, parts} of the first-ranked finding; None without a ranking."""
    if report.status != "ok" or not report.ranked:
        return None
    top = report.ranked[0]
    return {"kind": top.kind, "name": top.name, "lift": top.lift, "q_value": top.q_value,
            "parts": top.parts, "significant": top.significant}


def describe(report: RootCauseReport) -> str:
    """The top finding in one readable line."""
    if report.status != "ok":
        return f"root cause: {report.message}"
    if not report.ranked:
        return f"root cause: nothing could be tested ({report.message})"
    top: Finding = report.ranked[0]
    worst = next((b for b in top.bins if b.label == top.worst), None)
    where = f"{top.name} {top.worst}" if top.kind == "parameter" and top.worst else top.name
    rate = f"defect rate {worst.rate:.1%}, " if worst is not None else ""
    verdict = "significant" if top.significant else "NOT significant: no clear cause"
    return (f"root cause: {where} ({top.kind}) ranks first: {rate}{top.lift or 0:.1f}x the "
            f"average, q = {top.q_value:.1e}, {verdict}; {top.parts} parts, "
            f"{top.defects} defects")


def truth_check(store: InspectionStore, presented: Sequence[SimPart], good: str = "free") -> dict[str, int]:
    """Compare the station's verdicts with what the simulated camera really showed."""
    counts = {"defective": 0, "caught": 0, "good": 0, "false_rejects": 0, "not_inspected": 0}
    for part in presented:
        rows = [r for r in store.by_serial(part.serial) if r.status is Status.OK]
        if not rows:
            counts["not_inspected"] += 1  # left the frame before the trigger, or still in flight
            continue
        flagged = rows[-1].verdict is not Verdict.OK
        if part.true_class == good:
            counts["good"] += 1
            counts["false_rejects"] += flagged
        else:
            counts["defective"] += 1
            counts["caught"] += flagged
    return counts


def describe_truth(counts: dict[str, int]) -> str:
    return (f"against the simulated truth: caught {counts['caught']}/{counts['defective']} "
            f"defective parts; {counts['false_rejects']}/{counts['good']} good parts sent to "
            "REVIEW or NG")

"""Station: the composition root that wires source, trigger, model, store and outputs threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from inspector.capture.base import FrameSource
from inspector.config import StationConfig
from inspector.domain import Frame, Status, Trigger
from inspector.errors import InspectorError
from inspector.model.base import Classifier
from inspector.outputs.base import RejectOutput
from inspector.pipeline.alarms import AlarmWatch
from inspector.pipeline.archiver import ArchiveWorker
from inspector.pipeline.buffers import Overflow, Ring
from inspector.pipeline.in_order import InOrder
from inspector.pipeline.inference import (
    InferenceSettings,
    InferenceWorker,
    ModelSlot,
    SharedSlot,
    finish_judging,
)
from inspector.pipeline.metrics import MetricsRecorder, StationMetrics
from inspector.pipeline.records import Job, ModelInfo
from inspector.pipeline.serial_hook import SerialResolver
from inspector.pipeline.settings import StationSettings
from inspector.pipeline.signal_log import SignalLog
from inspector.pipeline.triggers import (
    PerFramePolicy,
    TriggerPolicy,
    TriggerRequest,
    new_part_id,
    request_times,
)
from inspector.pipeline.workers import (
    CaptureWorker,
    Countdown,
    Emitter,
    PipelineContext,
    Queues,
    TriggerWorker,
    Worker,
)
from inspector.pipeline.writer import Listener, OutputWorker, Store, StoreWriter, WriterSettings
from inspector.storage.archive import ImageArchive
from inspector.storage.journal import Journal

logger = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
SIGNALS_FILE = "signals.jsonl"   # rows fsynced before the fast-path outputs announce them
IMAGES_DIR = "images"
IMMEDIATE = "immediate"          # an output's `when`: told at once (reject signal fast path)


class StationStateError(InspectorError):
    """A station method was called in the wrong state (e.g. trigger() before start())."""


@dataclass
class StationParts:
    """The collaborators a Station drives; tests pass fakes, from_config builds real ones."""

    source: FrameSource
    classifier: Classifier | None
    journal: Journal
    store: Store | None = None
    trigger: TriggerPolicy = field(default_factory=PerFramePolicy)
    serials: SerialResolver = field(default_factory=SerialResolver)
    archive: ImageArchive | None = None
    outputs: Sequence[RejectOutput] = ()
    open_store: Any = None  # callable returning a Store, tried when `store` is None
    owns_store: bool = False


class Station:
    """One inspection station: capture -> trigger -> inference -> store/outputs threads.

    Lifecycle: start(); then wait() for a finite source (or max_parts) to finish, or
    stop() to end a live run. stop() lets every part already triggered finish and be
    written before it returns. Signal handling belongs to the caller (the CLI).
    """

    def __init__(self, parts: StationParts, settings: StationSettings | None = None) -> None:
        self.parts = parts
        self.settings = settings or StationSettings()
        self.recorder = MetricsRecorder()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._listeners: list[Listener] = []
        self._workers: list[Worker] = []
        self._queues: Queues | None = None
        self._ctx: PipelineContext | None = None
        self._writer: StoreWriter | None = None
        self._alarms: AlarmWatch | None = None
        self._capture: CaptureWorker | None = None
        self._inference: list[InferenceWorker] = []
        self._slot = SharedSlot(ModelSlot.of(parts.classifier))
        self._started = False
        self._finished = False

    # ---- composition --------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        cfg: StationConfig,
        classifier: Classifier | None = None,
        max_parts: int | None = None,
        store: Store | None = None,
    ) -> Station:
        """Build the real station from a validated config (the model is loaded unless given;
        the store, when given, is already open and the station closes it at the end)."""
        from inspector.pipeline.factory import build_parts

        station = cls(build_parts(cfg, classifier, store),
                      StationSettings.from_config(cfg, max_parts))
        if cfg.trace.alerts.enabled:  # predictive alerts on each stored batch (store thread)
            from inspector.storage.alerts import AlertStore
            from inspector.storage.engine import create_engine_for
            from inspector.trace.alerting import DefectRateWatch

            alerts = AlertStore(create_engine_for(cfg.db_url()))
            station.add_listener(DefectRateWatch(cfg.station.id, cfg.trace.alerts, alerts,
                                                 station.parts.outputs))
        return station

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event, rows)` after rows are committed or journaled (store thread)."""
        self._listeners.append(listener)
        if self._writer is not None:
            self._writer.listeners.append(listener)

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the source and start the threads; raises SourceError if it cannot open."""
        if self._started:
            raise StationStateError("station already started")
        self.parts.source.open()
        self._queues = self._make_queues()
        fast = [o for o in self.parts.outputs if getattr(o, "when", None) == IMMEDIATE]
        stored = [o for o in self.parts.outputs if o not in fast]
        ctx = self._ctx = PipelineContext(
            station_id=self.settings.station_id, queues=self._queues, recorder=self.recorder,
            stop=self._stop, emitter=Emitter(self._queues, self.recorder, signalling=bool(fast)),
            model=ModelInfo.from_card(getattr(self.parts.classifier, "card", None)),
            serials=self.parts.serials, routing=self.settings.routing, abort=self._abort,
        )
        signal_log = SignalLog(Journal(self._signals_path())) if fast else None
        self._writer = self._make_writer(signal_log)
        s = self.settings
        self._capture = CaptureWorker(self.parts.source, self._queues, self.recorder, self._stop)
        self._workers = [
            self._capture,
            TriggerWorker(self.parts.trigger, ctx, s.max_parts),
            *self._make_judges(ctx),
            *self._make_archivers(),
            self._writer,
            OutputWorker("outputs-fast", self._queues.outputs, fast, self.recorder, signal_log),
            OutputWorker("outputs", self._queues.announce, stored, self.recorder),
        ]
        pipeline = list(self._workers)
        self._alarms = AlarmWatch(s.station_id, self.parts.outputs, self.metrics,
                                  until=lambda: not any(w.thread.is_alive() for w in pipeline),
                                  stopping=self._stop.is_set)
        self._workers.append(self._alarms)
        self.recorder.started_mono = time.monotonic()
        self._started = True
        for worker in self._workers:
            worker.start()
        logger.info("station %s started (source %s, trigger %s)", self.settings.station_id,
                    self.parts.source.source_id, self.parts.trigger.kind)

    def _signals_path(self) -> Path:
        return self.parts.journal.path.with_name(SIGNALS_FILE)

    def _left_signals(self) -> Journal | None:
        """A crashed run's signal file, moved aside before this run appends to its own."""
        path = self._signals_path()
        if not path.exists() or path.stat().st_size == 0:
            return None
        left = path.with_name(path.name + ".left")
        if left.exists():  # an earlier start moved one aside and crashed before replaying it
            left.write_bytes(left.read_bytes() + path.read_bytes())
            path.unlink()
        else:
            path.rename(left)
        return Journal(left)

    def _make_queues(self) -> Queues:
        s, live = self.settings, self.parts.source.is_live
        return Queues(
            frames=Ring(s.frames_queue, Overflow.DROP_OLDEST if live else Overflow.WAIT, "frames"),
            requests=Ring(s.requests_queue, Overflow.REJECT, "requests"),
            # Live parts cannot wait for the model: a full backlog records them as overflow.
            jobs=Ring(s.jobs_queue, Overflow.REJECT if live else Overflow.WAIT, "jobs"),
            results=Ring(s.results_queue, Overflow.WAIT, "results"),
            rows=Ring(s.results_queue, Overflow.WAIT, "rows"),
            outputs=Ring(s.outputs_queue, Overflow.REJECT, "outputs"),
            announce=Ring(s.outputs_queue, Overflow.REJECT, "announce"),
        )

    def _make_judges(self, ctx: PipelineContext) -> list[InferenceWorker]:
        """The inference threads, judging parts side by side with one model slot (a swap reaches
        them all at once); the last to finish closes the queues they feed."""
        s, n = self.settings, max(1, self.settings.inference_threads)
        in_order = InOrder(ctx.emitter.emit, self.recorder)  # rows leave in queue order
        fed = Countdown(n, partial(finish_judging, in_order, self._queues))
        settings = InferenceSettings(s.batch_max, self.parts.archive is not None, s.region, s.deadline_s)
        self._inference = [InferenceWorker(self._slot, ctx, settings, i, fed, in_order) for i in range(n)]
        return self._inference

    def _make_archivers(self) -> list[ArchiveWorker]:
        assert self._queues is not None
        n = self.settings.archive_threads
        finished = Countdown(n, self._queues.rows.close)
        return [ArchiveWorker(i, self._queues.results, self._queues.rows, self.parts.archive,
                              finished) for i in range(n)]

    def _make_writer(self, signal_log: SignalLog | None) -> StoreWriter:
        s = self.settings
        writer = StoreWriter(
            WriterSettings(s.station_id, s.store_batch_size, s.flush_interval_s,
                           s.retry_interval_s, s.status_interval_s),
            self._queues.rows, self.parts.store, self.parts.journal, self.parts.archive,
            self.recorder, status=lambda: self.metrics().to_dict(),
            open_store=self.parts.open_store, announce=self._queues.announce,
        )
        writer.signal_log = signal_log
        writer.left_signals = self._left_signals()
        writer.listeners.extend(self._listeners)
        return writer

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every thread finished (source ended, max_parts reached or stopped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers:
            if worker is self._alarms:  # the pipeline before it has ended: its last check now
                self._alarms.wake()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not worker.join(remaining):
                return False
        self._finish()
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Stop capturing; finish and store every part already triggered; True if all joined.

        Without a timeout it waits as long as the backlog takes (every part gets its row);
        abort() from another thread (a second Ctrl-C) makes the rest `aborted` rows at once.
        """
        if not self._started:
            return True
        self._stop.set()
        done = self.wait(timeout)
        if not done:
            alive = [w.name for w in self._workers if w.thread.is_alive()]
            logger.error("station stop timed out after %.1fs; still running: %s", timeout, alive)
        return done

    def request_stop(self) -> None:
        """Ask the station to stop (non-blocking): capture ends, the backlog is still judged."""
        self._stop.set()

    def abort(self) -> None:
        """Stop now: parts not yet judged get `aborted` rows instead of waiting for the model."""
        if not self._abort.is_set():
            logger.warning("station %s: forced stop, unjudged parts are recorded as aborted",
                           self.settings.station_id)
        self._abort.set()
        self._stop.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        store = self._writer.store if self._writer is not None else None
        if self.parts.owns_store and store is not None and hasattr(store, "close"):
            store.close()
        logger.info("station %s stopped: %s parts", self.settings.station_id, self.recorder.parts)

    @property
    def running(self) -> bool:
        return self._started and any(w.thread.is_alive() for w in self._workers)

    def __enter__(self) -> Station:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- external trigger ----------------------------------------------------------------

    def trigger(self, serial: str | None = None, t: float | datetime | None = None,
                part_ref: str | None = None) -> str:
        """Announce a part (PLC/MES); returns its part_id. `t`: monotonic seconds or UTC time.

        The frame nearest `t` is inspected; none within max_skew_s gives a `no_frame` row.
        """
        if not self.parts.trigger.accepts_requests:
            raise StationStateError(
                f"trigger type is {self.parts.trigger.kind}: external triggers need "
                "`trigger: {type: external}` in the station config"
            )
        self._check_running()
        t_mono, t_utc = request_times(t)
        req = TriggerRequest(new_part_id(), t_mono, t_utc, serial, part_ref)
        if not self._queues.requests.put(req):
            self._record_overflow(req)
        return req.part_id

    def manual_trigger(self, serial: str | None = None, part_ref: str | None = None,
                       max_age_s: float = 1.0) -> str:
        """Inspect the newest frame now, whatever the trigger type (an operator's button)."""
        self._check_running()
        frame = self.latest_frame()
        now = time.monotonic()
        if frame is not None and now - frame.t_mono > max_age_s:
            frame = None  # a stale frame is not this part: the row says no_frame
        t_mono, t_utc = request_times(None)
        trig = Trigger(new_part_id(), t_mono, t_utc, "manual", serial, frame, part_ref)
        self.recorder.triggered()
        job = Job(trig, None, now)
        if not self._queues.jobs.put(job):
            self.recorder.drop("backlog_full")
            self._ctx.record_failure(job, Status.OVERFLOW, "inspection backlog full")
        return trig.part_id

    def _check_running(self) -> None:
        if not self.running or self._queues is None or self._queues.requests.closed \
                or self._stop.is_set():
            raise StationStateError("station is not running")

    def latest_frame(self) -> Frame | None:
        """The newest captured frame, None before the first (or before start)."""
        return None if self._capture is None else self._capture.latest

    @property
    def classifier(self) -> Classifier | None:
        """The model judging the next batch."""
        return self._slot.current.classifier

    def swap_model(self, classifier: Classifier) -> None:
        """Judge every batch from now on with `classifier`; the one in flight finishes as it was."""
        self.parts.classifier = classifier
        slot = ModelSlot.of(classifier)
        self._slot.current = slot  # one assignment: every inference thread's next batch
        if self._ctx is not None:
            self._ctx.model = slot.info
        logger.info("station %s now judges with %s", self.settings.station_id,
                    getattr(getattr(classifier, "card", None), "version", "?"))

    def _record_overflow(self, req: TriggerRequest) -> None:
        self.recorder.drop("trigger_requests_full")
        self.recorder.triggered()
        trig = Trigger(req.part_id, req.t_mono, req.t_utc, "external", req.serial, None,
                       req.part_ref)
        job = Job(trig, None, time.monotonic())
        assert self._ctx is not None
        self._ctx.record_failure(job, Status.OVERFLOW, "trigger request backlog full")

    # ---- metrics ----------------------------------------------------------------------

    def metrics(self) -> StationMetrics:
        """A consistent-enough snapshot for the status line, the API and the status row."""
        now = time.monotonic()
        counts = self.recorder.counts()
        fps, ppm = self.recorder.rates(now)
        health = self._health()
        q = self._queues
        drops = dict(counts.pop("drops"))
        if q is not None and q.frames.dropped:
            drops["frames_ring_full"] = q.frames.dropped
        archive = self.parts.archive
        return StationMetrics(
            station_id=self.settings.station_id,
            running=self.running,
            uptime_s=round(now - self.recorder.started_mono, 3),
            camera_state=health.get("state", "unknown"),
            camera_online=health.get("online", False),
            camera_reconnects=health.get("reconnects", 0),
            last_frame_age_s=health.get("last_frame_age_s"),
            capture_fps=fps,
            dropped_frames=q.frames.dropped if q is not None else 0,
            drops=drops,
            queue_depths=self._depths(),
            parts_per_min=ppm,
            disk_problem=bool(archive is not None and archive.disk_problem),
            output_failures=counts.pop("output_failures") + self._output_failures(),
            model_version=ModelInfo.from_card(getattr(self.classifier, "card", None)).version,
            alarms=self._alarms.active_kinds() if self._alarms is not None else [],
            extra={"disk_message": archive.disk_problem if archive is not None else None,
                   "source_error": health.get("last_error"),
                   "inspect_region": self._region_fractions(),
                   "lineio": self._line_states()},
            **counts,
            **self.recorder.latencies(),
        )

    def _health(self) -> dict[str, Any]:
        health = getattr(self.parts.source, "health", None)
        if health is None:
            return {}
        snap = health()
        state = str(snap.state)
        if state == "camera_offline" and self._capture is not None \
                and not self._capture.thread.is_alive():
            state = "closed"  # the station closed its source on purpose (end, stop, part limit)
        return {
            "state": state, "online": bool(snap.online),
            "reconnects": int(snap.reconnects), "last_frame_age_s": snap.last_frame_age_s,
            "last_error": snap.last_error,
        }

    def _line_states(self) -> list[dict[str, Any]]:
        """Each line protocol's connection state (outputs with `state()`), for status and /health."""
        states = []
        for output in self.parts.outputs:
            state = getattr(output, "state", None)
            if callable(state):
                try:
                    states.append(state().to_dict())
                except Exception:  # a plug-in boundary: its state is not worth a status line
                    logger.exception("output %s: cannot read its state", type(output).__name__)
        return states

    def _region_fractions(self) -> dict[str, float] | None:
        """Where the model looks in a frame (fractions), for a live view to draw; None: all of it."""
        r = self.settings.region
        if (r.x, r.y, r.w, r.h) == (0.0, 0.0, 1.0, 1.0):
            return None
        return {"x": r.x, "y": r.y, "w": r.w, "h": r.h}

    def _depths(self) -> dict[str, int]:
        q = self._queues
        if q is None:
            return {}
        return {name: len(getattr(q, name))
                for name in ("frames", "requests", "jobs", "results", "rows", "outputs")}

    def _output_failures(self) -> int:
        return sum(int(getattr(o, "failures", 0)) for o in self.parts.outputs)


def data_paths(data_dir: Path) -> tuple[Path, Path]:
    """(journal file, image folder) inside a station's data directory."""
    return Path(data_dir) / JOURNAL_FILE, Path(data_dir) / IMAGES_DIR

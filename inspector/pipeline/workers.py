"""The station's producer threads (capture, trigger/serial) and what the workers share."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from inspector.capture.base import FrameSource
from inspector.domain import Frame, Inspection, Status, Trigger
from inspector.errors import EndOfSource, SourceError
from inspector.pipeline.buffers import Closed, Ring
from inspector.pipeline.metrics import MetricsRecorder
from inspector.pipeline.records import Job, ModelInfo, Outcome, Routing, unjudged_row
from inspector.pipeline.serial_hook import SerialResolver
from inspector.pipeline.triggers import TriggerPolicy, TriggerRequest

logger = logging.getLogger(__name__)

POLL_S = 0.05            # how long a worker waits for input before checking the stop event
SOURCE_RETRY_S = 0.5     # pause after a source read error (the source reconnects itself)


@dataclass
class Queues:
    """The bounded queues between the threads (each with its own overflow policy)."""

    frames: Ring[Frame]            # capture -> trigger: DROP_OLDEST (live) or WAIT (files)
    requests: Ring[TriggerRequest]  # station.trigger() -> trigger: REJECT -> overflow row
    jobs: Ring[Job]                # trigger -> inference: REJECT (live) -> overflow row, or WAIT
    results: Ring[Outcome]         # inference -> archive workers: WAIT (they never stall)
    rows: Ring[Inspection]         # archive workers -> store writer: WAIT (it journals, never stalls)
    outputs: Ring[Inspection]      # inference -> fast-path (reject signal) outputs: REJECT, counted
    announce: Ring[Inspection]     # store writer -> outputs told after the row is safe: REJECT, counted


class Emitter:
    """Hands a finished row to the store writer and the fast-path outputs, and counts it.

    With fast-path outputs the row records the verdict they are told (`signalled`), so a
    restart can tell what the line heard of a part.
    """

    def __init__(self, queues: Queues, recorder: MetricsRecorder, signalling: bool = False) -> None:
        self.queues = queues
        self.recorder = recorder
        self.signalling = signalling

    def emit(self, outcome: Outcome) -> None:
        self.recorder.part(outcome.row)
        if self.signalling:
            signalled = replace(outcome.row, signalled=outcome.row.verdict.value)
            if self.queues.outputs.put(signalled):
                outcome = replace(outcome, row=signalled)
            else:
                # The signal path is slower than the line: the row is still stored, unsignalled.
                self.recorder.drop("outputs_full")
                logger.error("reject outputs backlog full: no %s signal for part %s",
                             outcome.row.verdict, outcome.row.part_id)
        self.queues.results.put(outcome)


class Countdown:
    """Runs `action` once, when the last of `n` workers has finished."""

    def __init__(self, n: int, action: Callable[[], None]) -> None:
        self._left, self._action, self._lock = n, action, threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._action()


class Worker:
    """A named daemon thread running `run()`; crashes are logged, never silent."""

    name = "worker"

    def __init__(self) -> None:
        self.thread = threading.Thread(target=self._main, name=self.name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _main(self) -> None:
        try:
            self.run()
        except Exception:  # the worker's top: anything left is a bug, logged with traceback
            logger.exception("%s thread crashed", self.name)
            self.on_crash()

    def run(self) -> None:
        raise NotImplementedError

    def on_crash(self) -> None:
        """Close this worker's output queues so the threads after it still finish."""


class CaptureWorker(Worker):
    """Reads the source into the frame ring; a live source never waits for the consumer."""

    def __init__(self, source: FrameSource, queues: Queues, recorder: MetricsRecorder,
                 stop: threading.Event) -> None:
        self.name = f"capture-{source.source_id}"
        super().__init__()
        self.source, self.queues, self.recorder, self.stop = source, queues, recorder, stop
        self.latest: Frame | None = None  # the newest frame, for the live view and manual triggers

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                frame = self._read()
                if frame is not None:
                    self.recorder.frame(time.monotonic())
                    self.latest = frame
                    self._put(frame)
        except EndOfSource:
            logger.info("source %s ended", self.source.source_id)
        finally:
            self.queues.frames.close()
            self._close_source()

    def _read(self) -> Frame | None:
        try:
            return self.source.read(POLL_S * 2)
        except EndOfSource:
            raise
        except SourceError as exc:
            # Live sources reconnect inside read(); keep asking rather than stopping the line.
            self.recorder.error(str(exc))
            logger.warning("source %s: %s", self.source.source_id, exc)
            self.stop.wait(SOURCE_RETRY_S)
            return None

    def _put(self, frame: Frame) -> None:
        # DROP_OLDEST returns at once; WAIT blocks until the trigger thread made room.
        while not self.queues.frames.put(frame, timeout=POLL_S):
            if self.stop.is_set():
                self.recorder.drop("stopped")  # read, but the station was stopping
                return

    def _close_source(self) -> None:
        try:
            self.source.close()
        except SourceError as exc:
            logger.warning("closing source %s: %s", self.source.source_id, exc)

    def on_crash(self) -> None:
        self.queues.frames.close()


class TriggerWorker(Worker):
    """Turns frames and external requests into parts and queues them for inspection.

    It never reads a serial code itself (a hard-to-read label can take tens of ms): a slow
    read here would delay the next trigger and drop live frames. The inference thread reads it.
    """

    name = "trigger"

    def __init__(self, policy: TriggerPolicy, ctx: PipelineContext,
                 max_parts: int | None = None) -> None:
        super().__init__()
        self.policy, self.ctx, self.max_parts = policy, ctx, max_parts
        self.triggered = 0

    def run(self) -> None:
        # Runs until capture closes the frame ring (end of source or stop), so the frames
        # already captured at a stop are still judged: a graceful stop flushes everything.
        frames = self.ctx.queues.frames
        while not self._limit_reached():
            try:
                frame = frames.get(POLL_S)
            except Closed:
                break
            triggers = self._take_requests()
            if frame is not None:
                triggers += self.policy.feed(frame)
            triggers += self.policy.poll(time.monotonic())
            self._dispatch(triggers)
        self._finish()

    def _discard_frames(self) -> None:
        """Frames captured after max_parts was reached are not parts: count and drop them."""
        frames = self.ctx.queues.frames
        extra = 0
        with contextlib.suppress(Closed):
            while not frames.closed or len(frames):
                if frames.get(POLL_S) is not None:
                    extra += 1
        if extra:
            self.ctx.recorder.drop("after_limit", extra)

    def _limit_reached(self) -> bool:
        if self.max_parts is None or self.triggered < self.max_parts:
            return False
        logger.info("trigger: %d parts reached, stopping the line", self.triggered)
        self.ctx.stop.set()
        return True

    def _take_requests(self) -> list[Trigger]:
        triggers: list[Trigger] = []
        while True:
            try:
                req = self.ctx.queues.requests.get(0)
            except Closed:
                return triggers
            if req is None:
                return triggers
            triggers += self.policy.request(req)

    def _finish(self) -> None:
        """Every part already announced gets its row, then the inference queue closes."""
        self._discard_frames()
        self.ctx.queues.requests.close()
        self._dispatch(self._take_requests() + self.policy.flush())
        self.ctx.queues.jobs.close()

    def _dispatch(self, triggers: Sequence[Trigger]) -> None:
        for trigger in triggers:
            self.triggered += 1
            self.ctx.recorder.triggered()
            job = Job(trigger, None, time.monotonic())
            if not self.ctx.queues.jobs.put(job):
                # Rare (the model is behind): this part's serial is read here, because an
                # overflow row without its serial could not be traced.
                self.ctx.record_failure(job, Status.OVERFLOW, "inspection backlog full")
                self.ctx.recorder.drop("backlog_full")

    def on_crash(self) -> None:
        self.ctx.stop.set()  # without a trigger thread nothing consumes frames: stop the line
        self.ctx.queues.requests.close()
        self.ctx.queues.jobs.close()


@dataclass
class PipelineContext:
    """What the workers share: station id, queues, metrics, stop event and model facts."""

    station_id: str
    queues: Queues
    recorder: MetricsRecorder
    stop: threading.Event
    emitter: Emitter
    model: ModelInfo
    serials: SerialResolver = field(default_factory=SerialResolver)
    routing: Routing = field(default_factory=Routing)
    abort: threading.Event = field(default_factory=threading.Event)  # forced stop: no more judging

    def with_serial(self, job: Job) -> Job:
        """The job with its serial read (from the frame's code, the trigger, or generated)."""
        if job.serial is not None:
            return job
        return replace(job, serial=self.serials.resolve(job.trigger))

    def record_failure(self, job: Job, status: Status, error: str) -> None:
        """A part without a model verdict still gets its row (REVIEW), with its frame if any."""
        self.emitter.emit(self.failure(job, status, error))

    def failure(self, job: Job, status: Status, error: str) -> Outcome:
        """The row (and frame) of a part without a model verdict, not yet emitted."""
        row = unjudged_row(self.station_id, self.with_serial(job), status, error, self.model,
                           self.routing.verdict(status))
        frame = job.trigger.frame
        pixels = None if frame is None or frame.image.size == 0 else frame.image
        return Outcome(row, pixels)

"""The inference thread: quality gate, deadline and model for each queued part, one row each."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inspector.domain import Status
from inspector.errors import ModelError
from inspector.model.base import Classifier
from inspector.model.quality import QualityGate
from inspector.pipeline.buffers import Closed
from inspector.pipeline.records import Job, ModelInfo, Outcome, inspected_row
from inspector.pipeline.region import InspectRegion
from inspector.pipeline.workers import POLL_S, Countdown, PipelineContext, Worker

logger = logging.getLogger(__name__)

TURN_WAIT_S = 1.0  # longest a batch's verdicts are held for a batch taken before it


@dataclass(frozen=True)
class ModelSlot:
    """The model a batch is judged with, and what every row it scores says about it.

    Swapped whole (one attribute assignment) between two batches: a batch in flight finishes on
    the model it started with, and its rows name that model's version and thresholds.
    """

    classifier: Classifier | None
    info: ModelInfo
    quality: QualityGate

    @classmethod
    def of(cls, classifier: Classifier | None) -> ModelSlot:
        card = getattr(classifier, "card", None)
        return cls(classifier, ModelInfo.from_card(card),
                   QualityGate(card.quality_profile if card is not None else None))


@dataclass(frozen=True)
class InferenceSettings:
    """How the inference thread judges parts."""

    batch_max: int = 2
    heatmaps: bool = True
    region: InspectRegion = field(default_factory=InspectRegion)
    deadline_s: float | None = None  # a part older than this when its turn comes is `late`


class InOrder:
    """Emits each batch's outcomes in the order the inference threads took the batches, so the
    line hears verdicts in trigger order however long each batch took beside the others.

    A thread that finished early does not wait: its batch is held until the ones before it are
    out. A batch held over `wait_s` behind a missing one (a thread that died with it) goes out;
    the missing one follows when it comes, out of turn. What is still held at the end goes out
    when the last inference thread finishes (`flush`).
    """

    def __init__(self, emit: Callable[[Outcome], None], wait_s: float = TURN_WAIT_S) -> None:
        self.emit, self.wait_s = emit, wait_s
        self.taking = threading.Lock()  # held while a thread takes a batch and its ticket
        self._lock = threading.Lock()   # emission under it: one thread's rows never interleave
        self._issued = 0
        self._next = 0  # the ticket whose turn it is
        self._held: dict[int, tuple[float, list[Outcome]]] = {}

    def take(self) -> int:
        """The next ticket (call under `taking`, with the batch just taken)."""
        ticket, self._issued = self._issued, self._issued + 1
        return ticket

    def done(self, ticket: int, outcomes: list[Outcome]) -> None:
        """A batch's outcomes: out now if it is their turn (with any held ones after), else held."""
        with self._lock:
            if ticket < self._next:
                logger.warning("inference: batch %d came after the %.1f s wait: out of turn",
                               ticket, self.wait_s)
                self._emit(outcomes)
                return
            self._held[ticket] = (time.monotonic(), outcomes)
            while self._held:
                if self._next not in self._held and not self._overdue():
                    break
                self._next = self._next if self._next in self._held else min(self._held)
                self._emit(self._held.pop(self._next)[1])
                self._next += 1

    def flush(self) -> None:
        """Everything still held, in ticket order (the last inference thread has finished)."""
        with self._lock:
            for ticket in sorted(self._held):
                self._emit(self._held.pop(ticket)[1])

    def _overdue(self) -> bool:
        return time.monotonic() - min(t for t, _ in self._held.values()) > self.wait_s

    def _emit(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.emit(outcome)


class InferenceWorker(Worker):
    """Judges queued parts, batching when several wait; every job yields exactly one row.

    Before the model: a part without a frame is `no_frame`; one whose input could not be decoded
    or whose image fails the quality gate is `bad_image`; one past its verdict deadline is
    `late` (the backlog is bounded by age: late parts leave the queue at once); after a forced
    stop every remaining part is `aborted`. None of these is ever OK.
    """

    def __init__(self, slot: ModelSlot, ctx: PipelineContext,
                 settings: InferenceSettings | None = None, index: int = 0,
                 finished: Countdown | None = None, in_order: InOrder | None = None) -> None:
        self.name = f"inference-{index}"
        super().__init__()
        self.ctx = ctx
        self.settings = settings or InferenceSettings()
        self.slot = slot  # shared by the inference threads: a swap reaches them all at once
        self._per_image_s = 0.0  # smoothed model time per image: a batch's expected duration
        self._outcomes: list[Outcome] = []  # the batch in hand's rows, emitted in its turn
        # Several judge side by side: the last to finish closes what they all feed.
        # Shared by the inference threads: rows leave in queue order, and the last thread to
        # finish lets out what is held and closes the queues they all feed.
        self.in_order = in_order or InOrder(ctx.emitter.emit)
        self.finished = finished or Countdown(1, self._close_outputs)

    def swap(self, slot: ModelSlot) -> None:
        """Judge every batch that starts from now on with this model (any thread)."""
        self.slot = slot
        self.ctx.model = slot.info

    def run(self) -> None:
        while True:
            with self.in_order.taking:  # a batch and its place in the line's order, together
                try:
                    jobs = self.ctx.queues.jobs.get_many(self.settings.batch_max, POLL_S)
                except Closed:
                    break
                ticket = self.in_order.take() if jobs else None
            if ticket is not None:
                self.in_order.done(ticket, self._process(jobs))
        self.finished.done()

    def _close_outputs(self) -> None:
        self.in_order.flush()
        self.ctx.queues.results.close()
        self.ctx.queues.outputs.close()

    def _process(self, jobs: list[Job]) -> list[Outcome]:
        """Every part's outcome, in the order the parts were queued (emitted by the caller)."""
        self._outcomes = []
        ready = []
        expected_s = self._per_image_s * len(jobs)  # a part judged now has its verdict then
        for job in map(self.ctx.with_serial, jobs):
            problem = self._unjudgeable(job, expected_s)
            if problem is None:
                ready.append(job)
            else:
                self._outcomes.append(self.ctx.failure(job, *problem))
        if ready:
            self._classify(ready, self.slot)
        queued = {job.trigger.part_id: i for i, job in enumerate(jobs)}
        return sorted(self._outcomes, key=lambda o: queued.get(o.row.part_id, len(queued)))

    def _unjudgeable(self, job: Job, expected_s: float = 0.0) -> tuple[Status, str] | None:
        """Why this part cannot go to the model, as (status, reason), or None.

        A part whose verdict would come after its deadline (its age now plus the batch's expected
        model time) is late now: the line hears at once instead of after the part has gone.
        """
        frame = job.trigger.frame
        if self.ctx.abort.is_set():
            return Status.ABORTED, "the station was forced to stop before judging this part"
        if frame is None:
            return Status.NO_FRAME, "no frame near the trigger time"
        if frame.problem is not None:
            return Status.BAD_IMAGE, frame.problem
        deadline = self.settings.deadline_s
        age = time.monotonic() - job.trigger.t_mono
        if deadline is not None and age + expected_s >= deadline:
            self.ctx.recorder.drop("late")
            return Status.LATE, f"not judged within the {deadline:g} s deadline ({age:.2f} s old)"
        return None

    def _classify(self, jobs: list[Job], slot: ModelSlot) -> None:
        # The archived image is what the model saw, so its heatmap overlays it exactly.
        usable: list[tuple[Job, np.ndarray]] = []
        for job in jobs:
            image, problem = self._crop(job, slot.quality)
            if problem is None:
                usable.append((job, image))
            else:
                self._outcomes.append(self.ctx.failure(job, Status.BAD_IMAGE, problem))
        if usable:
            self._judge(usable, slot)

    def _crop(self, job: Job, quality: QualityGate) -> tuple[np.ndarray | None, str | None]:
        try:
            image = self.settings.region.crop(job.trigger.frame.image)
        except (ValueError, IndexError) as exc:
            return None, f"cannot cut the inspect region: {exc}"
        return image, quality.check(image)

    def _judge(self, usable: list[tuple[Job, np.ndarray]], slot: ModelSlot) -> None:
        jobs, images = [j for j, _ in usable], [i for _, i in usable]
        t0 = time.perf_counter()
        try:
            preds = self._predict(slot.classifier, images)
        except Exception as exc:  # the model boundary: any failure becomes rows, never a crash
            if len(usable) > 1:
                for one in usable:  # retry one by one so only the bad part is an error row
                    self._judge([one], slot)
                return
            logger.exception("inference failed on part %s", jobs[0].trigger.part_id)
            self.ctx.recorder.error(f"inference: {exc}")
            self._outcomes.append(self.ctx.failure(jobs[0], Status.ERROR, f"{type(exc).__name__}: {exc}"))
            return
        elapsed = time.perf_counter() - t0
        self.ctx.recorder.inference(elapsed * 1000.0, len(jobs))
        per_image = elapsed / len(jobs)
        self._per_image_s = per_image if not self._per_image_s else (
            0.8 * self._per_image_s + 0.2 * per_image)
        for job, image, pred in zip(jobs, images, preds, strict=True):
            row = inspected_row(self.ctx.station_id, job, pred, slot.info)
            self._outcomes.append(Outcome(row, image, pred.heatmap))

    def _predict(self, classifier: Classifier | None, images: list[np.ndarray]):
        if classifier is None:
            raise ModelError("no model loaded")
        preds = classifier.predict(images, heatmaps=self.settings.heatmaps)
        if len(preds) != len(images):
            raise ModelError(f"model returned {len(preds)} predictions for {len(images)} images")
        return preds

    def on_crash(self) -> None:
        self.finished.done()

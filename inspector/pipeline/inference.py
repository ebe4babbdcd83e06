"""The inference thread: quality gate, deadline and model for each queued part, one row each."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from inspector.domain import Status
from inspector.errors import ModelError
from inspector.model.base import Classifier
from inspector.model.quality import QualityGate
from inspector.pipeline.buffers import Closed
from inspector.pipeline.in_order import InOrder
from inspector.pipeline.records import Job, ModelInfo, Outcome, inspected_row
from inspector.pipeline.region import InspectRegion
from inspector.pipeline.workers import POLL_S, Countdown, PipelineContext, Queues, Worker

logger = logging.getLogger(__name__)


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


def finish_judging(in_order: InOrder, queues: Queues) -> None:
    """After the last inference thread: what is held goes out, then the queues they feed close
    (whatever happened, or the archive and store threads would wait for ever)."""
    try:
        in_order.flush()
    finally:
        queues.results.close()
        queues.outputs.close()


class SharedSlot:
    """The one ModelSlot every inference thread reads at the start of each batch: a swap is one
    assignment, so all of them judge their next batch with the new model."""

    def __init__(self, slot: ModelSlot) -> None:
        self.current = slot


class InferenceWorker(Worker):
    """Judges queued parts, batching when several wait; every job yields exactly one row.

    Before the model: a part without a frame is `no_frame`; one whose input could not be decoded
    or whose image fails the quality gate is `bad_image`; one past its verdict deadline is
    `late` (the backlog is bounded by age: late parts leave the queue at once); after a forced
    stop every remaining part is `aborted`. None of these is ever OK.
    """

    def __init__(self, slot: SharedSlot, ctx: PipelineContext, settings: InferenceSettings,
                 index: int, finished: Countdown, in_order: InOrder) -> None:
        self.name = f"inference-{index}"
        super().__init__()
        self.ctx = ctx
        self.settings = settings
        # Shared by the inference threads (Station._make_judges): the model, the order rows leave
        # in, and the countdown whose last `done` lets out what is held and closes their queues.
        self.shared, self.in_order, self.finished = slot, in_order, finished
        self._per_image_s = 0.0  # smoothed model time per image: a batch's expected duration
        self._outcomes: list[Outcome] = []  # the batch in hand's rows, emitted in its turn

    @property
    def slot(self) -> ModelSlot:
        return self.shared.current

    def run(self) -> None:
        while True:
            with self.in_order.taking:  # a batch and its place in the line's order, together
                try:
                    jobs = self.ctx.queues.jobs.get_many(self.settings.batch_max, POLL_S)
                except Closed:
                    break
                ticket = self.in_order.take() if jobs else None
            if ticket is None:
                self.in_order.release_overdue()
            else:
                jobs, rows = self._rows_of(jobs)
                self.in_order.done(ticket, rows, partial(self._late_if_held, jobs))
        self.finished.done()

    def _rows_of(self, jobs: list[Job]) -> tuple[list[Job], list[Outcome]]:
        """The parts with their serials read, and every part's row; a bug on the way costs the
        parts their verdicts, never their rows."""
        self._outcomes = []
        try:
            jobs = [self.ctx.with_serial(job) for job in jobs]
            return jobs, self._process(jobs)
        except Exception as exc:  # a bug: the thread carries on with the next batch
            logger.exception("inference: batch of %d parts failed outside the model", len(jobs))
            self.ctx.recorder.error(f"inference: {type(exc).__name__}: {exc}")
            done = {o.row.part_id for o in self._outcomes}
            failed = [self.ctx.failure(job, Status.ERROR, f"{type(exc).__name__}: {exc}")
                      for job in jobs if job.trigger.part_id not in done]
            return jobs, self._in_queue_order(jobs, self._outcomes + failed)

    def _late_if_held(self, jobs: list[Job], outcomes: list[Outcome]) -> list[Outcome]:
        """A batch held behind an earlier one: verdicts now past their deadline become `late`
        rows, as they would have been had they waited for the model behind it."""
        deadline = self.settings.deadline_s
        if deadline is None:
            return outcomes
        now, by_part = time.monotonic(), {job.trigger.part_id: job for job in jobs}
        out, late = [], 0
        for outcome in outcomes:
            job = by_part[outcome.row.part_id]
            age = now - job.trigger.t_mono
            if outcome.row.status is Status.OK and age >= deadline:
                late += 1
                outcome = self.ctx.failure(job, Status.LATE, (
                    f"judged {outcome.row.verdict.value} (score {outcome.row.defect_score}) but held "
                    f"behind an earlier part past the {deadline:g} s deadline ({age:.2f} s old)"))
            out.append(outcome)
        if late:  # counted once every row is checked: a failed check lets the batch out as judged
            self.ctx.recorder.drop("late", late)
        return out

    def _process(self, jobs: list[Job]) -> list[Outcome]:
        """Every part's outcome (serials read), in the order the parts were queued."""
        ready = []
        expected_s = self._per_image_s * len(jobs)  # a part judged now has its verdict then
        for job in jobs:
            problem = self._unjudgeable(job, expected_s)
            if problem is None:
                ready.append(job)
            else:
                self._outcomes.append(self.ctx.failure(job, *problem))
        if ready:
            self._classify(ready, self.slot)
        return self._in_queue_order(jobs, self._outcomes)

    @staticmethod
    def _in_queue_order(jobs: list[Job], outcomes: list[Outcome]) -> list[Outcome]:
        queued = {job.trigger.part_id: i for i, job in enumerate(jobs)}
        return sorted(outcomes, key=lambda o: queued.get(o.row.part_id, len(queued)))

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

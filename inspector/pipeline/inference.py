"""The inference thread: quality gate, deadline and model for each queued part, one row each."""

from __future__ import annotations

import logging
import time
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


class InferenceWorker(Worker):
    """Judges queued parts, batching when several wait; every job yields exactly one row.

    Before the model: a part without a frame is `no_frame`; one whose input could not be decoded
    or whose image fails the quality gate is `bad_image`; one past its verdict deadline is
    `late` (the backlog is bounded by age: late parts leave the queue at once); after a forced
    stop every remaining part is `aborted`. None of these is ever OK.
    """

    def __init__(self, slot: ModelSlot, ctx: PipelineContext,
                 settings: InferenceSettings | None = None, index: int = 0,
                 finished: Countdown | None = None) -> None:
        self.name = f"inference-{index}"
        super().__init__()
        self.ctx = ctx
        self.settings = settings or InferenceSettings()
        self.slot = slot  # shared by the inference threads: a swap reaches them all at once
        self._per_image_s = 0.0  # smoothed model time per image: a batch's expected duration
        # Several judge side by side: the last to finish closes what they all feed.
        self.finished = finished or Countdown(1, self._close_outputs)

    def swap(self, slot: ModelSlot) -> None:
        """Judge every batch that starts from now on with this model (any thread)."""
        self.slot = slot
        self.ctx.model = slot.info

    def run(self) -> None:
        while True:
            try:
                jobs = self.ctx.queues.jobs.get_many(self.settings.batch_max, POLL_S)
            except Closed:
                break
            self._process(jobs)
        self.finished.done()

    def _close_outputs(self) -> None:
        self.ctx.queues.results.close()
        self.ctx.queues.outputs.close()

    def _process(self, jobs: list[Job]) -> None:
        ready = []
        expected_s = self._per_image_s * len(jobs)  # a part judged now has its verdict then
        for job in map(self.ctx.with_serial, jobs):
            problem = self._unjudgeable(job, expected_s)
            if problem is None:
                ready.append(job)
            else:
                self.ctx.record_failure(job, *problem)
        if ready:
            self._classify(ready, self.slot)

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
                self.ctx.record_failure(job, Status.BAD_IMAGE, problem)
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
            self.ctx.record_failure(jobs[0], Status.ERROR, f"{type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - t0
        self.ctx.recorder.inference(elapsed * 1000.0, len(jobs))
        per_image = elapsed / len(jobs)
        self._per_image_s = per_image if not self._per_image_s else (
            0.8 * self._per_image_s + 0.2 * per_image)
        for job, image, pred in zip(jobs, images, preds, strict=True):
            row = inspected_row(self.ctx.station_id, job, pred, slot.info)
            self.ctx.emitter.emit(Outcome(row, image, pred.heatmap))

    def _predict(self, classifier: Classifier | None, images: list[np.ndarray]):
        if classifier is None:
            raise ModelError("no model loaded")
        preds = classifier.predict(images, heatmaps=self.settings.heatmaps)
        if len(preds) != len(images):
            raise ModelError(f"model returned {len(preds)} predictions for {len(images)} images")
        return preds

    def on_crash(self) -> None:
        self.finished.done()

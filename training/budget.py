"""The time budget: fit each network's epochs to the minutes given, from measured step times (pure)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

MIN_EPOCHS = 2  # the fewest epochs of a phase a budget may leave (one-cycle needs a rise and a fall)


@dataclass(frozen=True)
class StepCost:
    """Measured seconds: one crop step, one full-canvas step, one image through the network (eval)."""

    crop_s: float
    full_s: float
    image_s: float


@dataclass(frozen=True)
class Job:
    """One network to train: its most epochs (the recipe's), steps per epoch, what else it costs."""

    name: str
    crop_epochs: int
    epochs: int
    crop_steps: int
    full_steps: int
    cost: StepCost
    val_images: int = 0          # scored after every full epoch (checkpoint selection)
    locate_images: int = 0       # labels-only: defect images located every LOCATE_EVERY crop epochs
    locate_at: float = 1.0       # share of the crop epochs before locating starts
    finish_images: int = 0       # scored once the network is trained (thresholds, test, plots, bank)
    fixed: bool = False          # the user fixed its epochs: the budget leaves them
    precision: str = "fp32"

    def crop_epoch_s(self) -> float:
        locating = self.locate_images * self.cost.image_s / LOCATE_EVERY * max(0.0, 1 - self.locate_at)
        return self.crop_steps * self.cost.crop_s + locating

    def full_epoch_s(self) -> float:
        return self.full_steps * self.cost.full_s + self.val_images * self.cost.image_s

    def finish_s(self) -> float:
        return self.finish_images * self.cost.image_s + FINISH_FIXED_S

    def seconds(self, crop_epochs: int | None = None, epochs: int | None = None) -> float:
        """Training plus finishing, at these epochs (default: its own)."""
        crop = self.crop_epochs if crop_epochs is None else crop_epochs
        full = self.epochs if epochs is None else epochs
        return crop * self.crop_epoch_s() + full * self.full_epoch_s() + self.finish_s()


LOCATE_EVERY = 10      # training.fit locates real defects every 10 crop epochs
FINISH_FIXED_S = 15.0  # ONNX export, writing and loading the bundle, plots: seconds, about


@dataclass(frozen=True)
class Plan:
    """The schedule that runs: each job at its fitted epochs, and the seconds expected."""

    jobs: tuple[Job, ...]
    seconds: float
    budget_s: float
    fits: bool  # False when even the shortest schedule overruns the budget
    whole_s: float = 0.0  # the recipe's whole schedule (every job at its own epochs), seconds

    def job(self, name: str) -> Job:
        return next(j for j in self.jobs if j.name == name)


def fit_schedule(jobs: list[Job], budget_s: float, spent_s: float = 0.0) -> Plan:
    """Shorten every job not fixed by one common factor (both phases alike, so the recipe's balance
    of crops and full canvases holds) until the whole run fits `budget_s`, of which `spent_s` is
    gone already. A budget of 0 or less keeps every job's full schedule. Never lengthens."""
    whole = spent_s + sum(j.seconds() for j in jobs)
    if budget_s <= 0:
        return Plan(tuple(jobs), whole, budget_s, True, whole)
    free = [j for j in jobs if not j.fixed]
    fixed_s = sum(j.seconds() for j in jobs if j.fixed) + sum(j.finish_s() for j in free)
    train_s = sum(j.seconds() - j.finish_s() for j in free)
    left = budget_s - spent_s - fixed_s
    factor = 1.0 if train_s <= 0 else min(1.0, max(0.0, left / train_s))
    fitted = [j if j.fixed else _shortened(j, factor) for j in jobs]
    total = spent_s + sum(j.seconds() for j in fitted)
    return Plan(tuple(fitted), total, budget_s, total <= budget_s * 1.001, whole)


def _shortened(job: Job, factor: float) -> Job:
    crop = 0 if job.crop_epochs == 0 else max(min(MIN_EPOCHS, job.crop_epochs),
                                              math.floor(job.crop_epochs * factor))
    full = max(min(MIN_EPOCHS, job.epochs), math.floor(job.epochs * factor))
    return replace(job, crop_epochs=crop, epochs=full)


def describe(plan: Plan, where: str = "this CPU") -> str:
    """The plan as a user reads it before training starts."""
    parts = [f"{j.name}: {j.crop_epochs} crop epochs, {j.epochs} full epochs"
             + (f" ({j.precision})" if j.precision != "fp32" else "")
             for j in plan.jobs]
    text = f"about {_minutes(plan.seconds)} on {where}: " + "; ".join(parts)
    if plan.budget_s > 0 and not plan.fits:
        text += f" (over the {_minutes(plan.budget_s)} budget even at the shortest schedule)"
    if plan.whole_s > plan.seconds * 1.05:  # shortened: say what the best model would take
        text += (f"; the recipe's whole schedule would take about {_minutes(plan.whole_s)} "
                 "(--budget-min 0), a shortened one gives a weaker model")
    return text


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


class Eta:
    """The time left, from the plan's expected seconds per unit of work and the time they really took."""

    def __init__(self, planned_s: float, clock=time.monotonic) -> None:
        self.planned_s = planned_s
        self.done_s = 0.0  # planned seconds of the work finished so far
        self.clock = clock
        self.start = clock()

    def advance(self, planned_s: float) -> None:
        """A piece of work the plan gave `planned_s` seconds is finished."""
        self.done_s += planned_s

    def left_s(self) -> float:
        """Seconds still to go: the plan's remainder at the pace measured so far."""
        elapsed = self.clock() - self.start
        remaining = max(0.0, self.planned_s - self.done_s)
        if self.done_s <= 0:
            return remaining
        return remaining * elapsed / self.done_s

    def text(self) -> str:
        left = self.left_s()
        return f"ETA {left / 60:.1f} min" if left >= 60 else f"ETA {left:.0f} s"

"""Line simulator: parts with serials, upstream events from four machines, a planted cause."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.storage.events import EventFacts, PartOutcome, ProcessEvent

GOOD_LABEL = "free"  # the magnetic-tile data set's defect-free class
DEFAULT_RATES = {"crack": 0.02, "blowhole": 0.015, "break": 0.01, "fray": 0.01, "uneven": 0.015}
# minutes after pressing at which each later step happens, and the camera
STEP_OFFSETS_MIN = {"pressing": 0, "firing": 30, "grinding": 90, "coating": 100, "camera": 110}


@dataclass(frozen=True)
class PlantedCause:
    """One machine's parameter drifts; above `limit` a defect class becomes `factor` x likelier."""

    machine: str = "kiln-2"
    step: str = "firing"
    parameter: str = "temperature"
    drift: float = 30.0           # added linearly over the run, from 0 to drift
    limit: float = 865.0
    defect_class: str = "crack"
    factor: float = 5.0

    @property
    def names(self) -> set[str]:
        """Finding names that count as having found this cause."""
        return {self.machine, f"{self.machine}/{self.step}", f"{self.step}.{self.parameter}"}


@dataclass(frozen=True)
class LineSpec:
    """What to simulate."""

    parts: int = 5_000
    seed: int = 0
    start: datetime = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    cycle_s: float = 6.0
    cause: PlantedCause | None = field(default_factory=PlantedCause)
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    serial_prefix: str = "MT"
    station_id: str = "station-1"


@dataclass(frozen=True)
class SimulatedPart:
    """One part: serial, upstream events, and what the camera found."""

    serial: str
    inspected_at: datetime
    label: str
    verdict: Verdict
    events: tuple[ProcessEvent, ...]


def simulate(spec: LineSpec) -> Iterator[SimulatedPart]:
    """Generate `spec.parts` parts, deterministic for a seed."""
    rng = np.random.default_rng(spec.seed)
    for i in range(spec.parts):
        t0 = spec.start + timedelta(seconds=i * spec.cycle_s)
        serial = f"{spec.serial_prefix}{spec.seed:03d}{i:08d}"
        events = _events(rng, serial, t0, i / max(1, spec.parts - 1), i, spec.cause)
        label = _outcome(rng, spec, events)
        verdict = Verdict.OK if label == GOOD_LABEL else Verdict.NG
        at = t0 + timedelta(minutes=STEP_OFFSETS_MIN["camera"])
        yield SimulatedPart(serial, at, label, verdict, events)


def _events(
    rng: np.random.Generator, serial: str, t0: datetime, progress: float, i: int,
    cause: PlantedCause | None,
) -> tuple[ProcessEvent, ...]:
    def at(step: str) -> datetime:
        jitter = float(rng.normal(0.0, 20.0))  # seconds: conveyors are not clocks
        return t0 + timedelta(minutes=STEP_OFFSETS_MIN[step], seconds=jitter)

    press = f"press-{rng.integers(1, 3)}"
    kiln = f"kiln-{rng.integers(1, 3)}"
    coater = f"coater-{rng.integers(1, 3)}"
    temperature = 850.0 + rng.normal(0.0, 4.0)
    if cause is not None and kiln == cause.machine:
        temperature += cause.drift * progress
    wear = max(0.0, (i % 400) / 400.0 + rng.normal(0.0, 0.02))  # wheel dressed every 400
    params = {
        ("pressing", press): {"force_kN": rng.normal(120, 3), "dwell_s": rng.normal(2.0, 0.05),
                              "die": f"D{rng.integers(1, 5)}"},
        ("firing", kiln): {"temperature": temperature, "duration_min": rng.normal(45, 1),
                           "zone": "AB"[rng.integers(0, 2)]},
        ("grinding", "grinder-1"): {"spindle_rpm": rng.normal(3000, 30), "wheel_wear": wear,
                                    "feed_mm_s": rng.normal(1.2, 0.02)},
        ("coating", coater): {"thickness_um": rng.normal(25, 1), "viscosity": rng.normal(80, 3),
                              "lot": f"L{i // 250:03d}"},
    }
    return tuple(
        ProcessEvent(serial, machine, step, at(step), {k: _round(v) for k, v in p.items()})
        for (step, machine), p in params.items()
    )


def _round(value: object) -> object:
    return round(float(value), 3) if isinstance(value, float | np.floating) else value


def _outcome(rng: np.random.Generator, spec: LineSpec, events: tuple[ProcessEvent, ...]) -> str:
    rates = dict(spec.rates)
    cause = spec.cause
    if cause is not None:
        for event in events:
            value = event.parameters.get(cause.parameter)
            if event.machine == cause.machine and isinstance(value, float) and value > cause.limit:
                rates[cause.defect_class] = rates.get(cause.defect_class, 0.0) * cause.factor
    draw = rng.random()
    for label, rate in rates.items():
        if draw < rate:
            return label
        draw -= rate
    return GOOD_LABEL


def to_analysis_rows(parts: list[SimulatedPart]) -> tuple[list[PartOutcome], list[EventFacts]]:
    """The rows root_cause would load from the database, straight from the simulation."""
    outcomes = [PartOutcome(p.serial, p.inspected_at, p.verdict.value, p.label, None)
                for p in parts]
    events = sorted((e for p in parts for e in p.events), key=lambda e: e.ts)
    facts = [EventFacts(e.serial, e.machine, e.step, e.parameters) for e in events]
    return outcomes, facts


def to_inspection(part: SimulatedPart, station_id: str = "station-1") -> Inspection:
    """An inspection row for a simulated part (no image: the root-cause path needs none)."""
    score = 0.9 if part.verdict is Verdict.NG else 0.05
    return Inspection(
        part_id=f"{station_id}-{part.serial}", station_id=station_id, serial=part.serial,
        serial_source=SerialSource.CODE, captured_at=part.inspected_at,
        inspected_at=part.inspected_at, status=Status.OK, verdict=part.verdict,
        label=part.label, defect_score=score, scores={part.label: 1.0 - score / 10},
        model_version="simulated",
    )

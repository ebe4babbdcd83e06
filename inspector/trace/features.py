"""Turn inspected parts and their upstream events into per-part features for root-cause tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from inspector.domain import Verdict
from inspector.storage.events import EventFacts, PartOutcome


@dataclass
class PartFeatures:
    """Parts of a window (one per serial, the latest inspection) and what happened to them."""

    serials: list[str]
    defect: np.ndarray                                                # bool per part
    machines: dict[str, set[int]] = field(default_factory=dict)      # machine -> parts
    steps: dict[str, set[int]] = field(default_factory=dict)         # step -> parts
    machine_steps: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    params: dict[str, dict[int, float | int | str]] = field(default_factory=dict)

    @property
    def parts(self) -> int:
        return len(self.serials)

    @property
    def defects(self) -> int:
        return int(self.defect.sum())

    def steps_of(self, machine: str) -> list[str]:
        """The steps a machine performed in this window."""
        return sorted(step for (m, step) in self.machine_steps if m == machine)


def is_defect(outcome: PartOutcome, defect_class: str | None, count_review: bool) -> bool:
    """NG (and REVIEW if asked) counts as defective; a class also needs the (reviewed) label."""
    bad = {Verdict.NG.value, Verdict.REVIEW.value} if count_review else {Verdict.NG.value}
    if outcome.verdict not in bad:
        return False
    if defect_class is None:
        return True
    return (outcome.review_label or outcome.label) == defect_class


def build_features(
    outcomes: Sequence[PartOutcome], facts: Sequence[EventFacts],
    defect_class: str | None = None, count_review: bool = False,
) -> PartFeatures:
    """Join outcomes to events (in time order) on serial; a parameter is keyed 'step.name'.

    A part that passed a step twice (rework) is judged by its last pass.
    """
    latest: dict[str, PartOutcome] = {}
    for outcome in outcomes:  # oldest first: a re-inspection replaces the earlier result
        latest[outcome.serial] = outcome
    serials = list(latest)
    index = {serial: i for i, serial in enumerate(serials)}
    defect = np.array(
        [is_defect(latest[s], defect_class, count_review) for s in serials], dtype=bool
    )
    features = PartFeatures(serials, defect)
    machines, steps = defaultdict(set), defaultdict(set)
    machine_steps = defaultdict(set)
    params: dict[str, dict[int, object]] = defaultdict(dict)
    keys: dict[tuple[str, str], str] = {}
    for serial, machine, step, parameters in facts:  # in time order: a rework pass overwrites
        i = index.get(serial)
        if i is None:
            continue
        machines[machine].add(i)
        steps[step].add(i)
        machine_steps[(machine, step)].add(i)
        for name, value in (parameters or {}).items():
            key = keys.get((step, name))
            if key is None:
                key = keys[(step, name)] = f"{step}.{name}"
            params[key][i] = value
    features.machines, features.steps = dict(machines), dict(steps)
    features.machine_steps = dict(machine_steps)
    features.params = dict(params)
    return features

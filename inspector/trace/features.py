"""Turn inspected parts and their upstream events into per-part features for root-cause tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from inspector.domain import Verdict
from inspector.storage.events import EventFacts, PartOutcome
from inspector.trace.missing import is_missing


@dataclass
class PartFeatures:
    """Parts of a window (one per serial, the latest inspection) and what happened to them."""

    serials: list[str]
    defect: np.ndarray                                                # bool per part
    machines: dict[str, set[int]] = field(default_factory=dict)      # machine -> parts
    steps: dict[str, set[int]] = field(default_factory=dict)         # step -> parts
    machine_steps: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    params: dict[str, dict[int, float | int | str]] = field(default_factory=dict)
    _typed: dict[str, ParamValues] = field(default_factory=dict, repr=False)

    def typed(self, key: str) -> ParamValues:
        """A parameter's values split by type (computed once)."""
        if key not in self._typed:
            self._typed[key] = split_types(self.params[key])
        return self._typed[key]

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

    A part that passed a step twice (rework) is judged by its last pass. Missing values
    (None, NaN, 'n/a', ... stored before ingestion dropped them) are left out.
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
            if is_missing(value):
                continue
            key = keys.get((step, name))
            if key is None:
                key = keys[(step, name)] = f"{step}.{name}"
            params[key][i] = value
    features.machines, features.steps = dict(machines), dict(steps)
    features.machine_steps = dict(machine_steps)
    features.params = dict(params)
    return features


@dataclass(frozen=True)
class ParamValues:
    """One parameter's known values by type: numbers, or text; both when the type is mixed."""

    numeric_index: np.ndarray        # part indexes with a number
    numbers: np.ndarray
    text_index: np.ndarray           # part indexes with text
    texts: list[str]

    @property
    def mixed(self) -> bool:
        return bool(self.numbers.size and self.texts)

    @property
    def numeric(self) -> bool:
        """Tested as a number: numbers are at least half of the known values."""
        return self.numbers.size >= len(self.texts)


def split_types(values: dict[int, float | int | str]) -> ParamValues:
    """Separate numbers from text (never converting one into the other)."""
    num_i, nums, txt_i, txts = [], [], [], []
    for i, v in values.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            num_i.append(i)
            nums.append(v)
        else:
            txt_i.append(i)
            txts.append(str(v))
    return ParamValues(np.asarray(num_i, dtype=np.int64), np.asarray(nums, dtype=float),
                       np.asarray(txt_i, dtype=np.int64), txts)

"""Change points in each machine's defect rate over its part sequence, lined up with recorded changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from inspector.storage.block_window import SequenceRows
from inspector.storage.events import EventFacts, PartOutcome
from inspector.trace.config import ChangePointConfig, RootCauseConfig
from inspector.trace.features import is_defect
from inspector.trace.missing import is_missing

TEST = "cusum_ks"  # the CUSUM of defects against a constant rate, read as a Kolmogorov distance
RISE, FALL = "rise", "fall"

if TYPE_CHECKING:
    from inspector.trace.report import RootCauseReport


@dataclass(frozen=True)
class RecordedChange:
    """A setting of a machine whose value changed between two consecutive parts (tool, lot, recipe)."""

    machine: str                   # where it was recorded
    parameter: str                 # 'grinding.tool'
    before: str
    after: str
    part: int                      # first part with the new value (index into the window's parts)
    serial: str


@dataclass(frozen=True)
class ChangePoint:
    """A step in one machine's defect rate, and the recorded change it follows (if any)."""

    machine: str
    steps: tuple[str, ...]
    defect_class: str | None
    direction: str                 # rise | fall
    position: int                  # first part at the new rate, in the machine's order (0-based)
    serial: str                    # that part
    part: int                      # its index among the window's parts (the line's order)
    estimate: int                  # where the defects alone put the change (the CUSUM's extreme)
    parts_before: int              # the segment before the change (from the previous change)
    defects_before: int
    parts_after: int               # the segment after it (up to the next change)
    defects_after: int
    rate_before: float
    rate_after: float
    ratio: float                   # rate after / before (0.5 added to each defect count)
    statistic: float               # largest distance of the defects' positions from even spread
    p_value: float                 # Kolmogorov tail of that distance, given the defects
    q_value: float                 # x 2 x machines searched: a family at alpha/2 (Bonferroni)
    significant: bool
    test: str = TEST
    change: RecordedChange | None = None
    lag: int | None = None         # parts from the recorded change to `estimate` (> 0: after it)
    advice: str = ""



@dataclass
class MachineSequence:
    """The parts one machine worked on in the window, in the order it worked on them."""

    machine: str
    steps: tuple[str, ...]
    parts: np.ndarray                                   # part indexes into `defect`, in its order
    serials: Sequence[str]
    values: dict[str, tuple[np.ndarray, np.ndarray]]    # key -> (positions, values as text)
    _order: np.ndarray | None = field(default=None, repr=False)
    _place: np.ndarray | None = field(default=None, repr=False)   # part -> position, -1: none

    def changes(self, max_share: float) -> list[RecordedChange]:
        """Every change of a setting's value; a parameter that changes on more than `max_share`
        of its parts varies per part (a die drawn at random) and is no setting."""
        out: list[RecordedChange] = []
        for key, (positions, values) in self.values.items():
            at = np.flatnonzero(values[1:] != values[:-1]) + 1
            if at.size > max_share * max(1, values.size - 1):
                continue
            out += [RecordedChange(self.machine, key, str(values[j - 1]), str(values[j]),
                                   int(self.parts[positions[j]]), self.serials[positions[j]])
                    for j in at]
        return out

    def position_of(self, part: int) -> int:
        """Where a part of the window stands in this machine's order: its own place when the
        machine worked on it, else how many of the machine's parts came before it (the line's
        order, which each machine's order follows closely)."""
        if self._order is None or self._place is None:
            self._order = np.sort(self.parts)
            self._place = np.full(int(self._order[-1]) + 1 if self.parts.size else 0, -1)
            self._place[self.parts] = np.arange(self.parts.size)
        if part < self._place.size and self._place[part] >= 0:
            return int(self._place[part])
        return int(np.searchsorted(self._order, part))


def build_sequences(
    outcomes: Sequence[PartOutcome], facts: Sequence[EventFacts],
    defect_class: str | None = None, count_review: bool = False,
) -> tuple[np.ndarray, list[MachineSequence]]:
    """Whether each part is defective, and each machine's parts in its event order (facts come
    in time order). A part that passed a machine twice keeps its first place (rework)."""
    latest: dict[str, PartOutcome] = {}
    for outcome in outcomes:  # oldest first: a re-inspection replaces the earlier result
        latest[outcome.serial] = outcome
    index = {serial: i for i, serial in enumerate(latest)}
    defect = np.fromiter((is_defect(o, defect_class, count_review) for o in latest.values()),
                         dtype=bool, count=len(latest))
    parts: dict[str, dict[int, str]] = {}             # machine -> part -> serial, in its order
    steps: dict[str, set[str]] = {}
    values: dict[tuple[str, str], list[tuple[int, str]]] = {}   # (machine, key) -> (part, value)
    keys: dict[tuple[str, str], str] = {}
    for serial, machine, step, parameters in facts:
        i = index.get(serial)
        if i is None:
            continue
        mine = parts.get(machine)
        if mine is None:
            mine, steps[machine] = parts.setdefault(machine, {}), set()
        if i in mine:
            continue
        mine[i] = serial
        steps[machine].add(step)
        for name, value in (parameters or {}).items():
            # settings are text (T06, L03, recipe-B) or whole numbers (a recipe number)
            if isinstance(value, bool | float) or (isinstance(value, str) and is_missing(value)):
                continue
            key = keys.get((step, name))
            if key is None:
                key = keys[(step, name)] = f"{step}.{name}"
            values.setdefault((machine, key), []).append((i, str(value)))
    sequences = []
    for machine in sorted(parts):
        order = np.fromiter(parts[machine], dtype=np.int64, count=len(parts[machine]))
        place = {p: n for n, p in enumerate(parts[machine])}
        own = {key: (np.array([place[i] for i, _ in seen], dtype=np.int64),
                     np.array([v for _, v in seen], dtype=object))
               for (m, key), seen in values.items() if m == machine}
        sequences.append(MachineSequence(machine, tuple(sorted(steps[machine])), order,
                                         list(parts[machine].values()), own))
    return defect, sequences


def change_points(
    outcomes: Sequence[PartOutcome], facts: Sequence[EventFacts], defect_class: str | None,
    config: ChangePointConfig, alpha: float, count_review: bool = False,
) -> list[ChangePoint]:
    """Binary segmentation of each machine's defect sequence; significant steps first (rises
    before falls), each lined up with the recorded setting change that best explains it."""
    defect, sequences = build_sequences(outcomes, facts, defect_class, count_review)
    return segment_machines(defect, sequences, defect_class, config, alpha)


def attach_change_points(
    report: RootCauseReport, sequences: Callable[[], tuple[np.ndarray, list[MachineSequence]]],
    config: RootCauseConfig | None = None,
) -> RootCauseReport:
    """The report with the change points of its parts (`sequences` orders them per machine,
    only when the window has at most changes.max_parts), or with the reason they were not
    searched."""
    if report.changes_message:
        return report
    cfg = config or RootCauseConfig()
    search = cfg.changes
    if not search.enabled:
        return replace(report, changes_message="change points: not searched (changes.enabled "
                       "is false)")
    if report.parts > search.max_parts:
        return replace(report, changes_message=f"change points: not searched, the window has "
                       f"{report.parts} parts (changes.max_parts {search.max_parts}): choose a "
                       "shorter window")
    defect, machines = sequences()
    found = segment_machines(defect, machines, report.defect_class, search, cfg.alpha)
    significant = sum(c.significant for c in found)
    searched = len({c.machine for c in found})
    message = (f"change points: {searched} machines with enough parts and defects searched, "
               f"{significant} significant at {cfg.alpha} (their own family at alpha/2)")
    return replace(report, changes=tuple(found), changes_message=message)


def sequences_from_rows(rows: SequenceRows) -> tuple[np.ndarray, list[MachineSequence]]:
    """What build_sequences makes of loaded rows, from a window counted in the database: each
    machine's parts in its event order (a part's first pass there), and its settings."""
    names, machine = np.unique(rows.machine.astype(str), return_inverse=True)
    # a part's first pass on each machine, in event order
    _, first = np.unique(machine * (rows.defect.size + 1) + rows.part, return_index=True)
    first = np.sort(first)
    by_machine = first[np.argsort(machine[first], kind="stable")]
    starts = np.searchsorted(machine[by_machine], np.arange(names.size + 1))
    # each setting value's event among the first passes (-1: a rework pass, not used)
    ids = rows.event_id[by_machine]
    order = np.argsort(ids)
    found = np.searchsorted(ids[order], rows.setting_event)
    found = np.minimum(found, max(ids.size - 1, 0))
    hit = ids.size > 0 and rows.setting_event.size > 0
    row = np.where(hit & (ids[order][found] == rows.setting_event), order[found], -1) \
        if hit else np.full(rows.setting_event.size, -1)
    serials = np.asarray(rows.serials, dtype=object)
    sequences = []
    for m, name in enumerate(names):
        lo, hi = starts[m], starts[m + 1]
        mine = by_machine[lo:hi]
        parts = rows.part[mine]
        values = {}
        inside = np.flatnonzero((row >= lo) & (row < hi))
        for key in sorted(set(rows.setting_key[inside].tolist())):
            at = inside[rows.setting_key[inside] == key]
            position = row[at] - lo
            keep = np.argsort(position, kind="stable")
            values[key] = (position[keep], rows.setting_value[at][keep])
        sequences.append(MachineSequence(str(name), tuple(sorted(set(rows.step[mine].tolist()))),
                                         parts, list(serials[parts]), values))
    return rows.defect, sequences


def segment_machines(defect: np.ndarray, sequences: Sequence[MachineSequence],
                     defect_class: str | None, config: ChangePointConfig,
                     alpha: float) -> list[ChangePoint]:
    """change_points on sequences already built (tests and benchmarks build them in bulk)."""
    searched = [s for s in sequences
                if s.parts.size >= 2 * config.min_segment_parts
                and defect[s.parts].sum() >= config.min_defects]
    # a lot changed at the press shows on every machine downstream: each machine is lined up
    # with the settings of all machines
    recorded = [(c, _own_split(s, defect, c))
                for s in sequences for c in s.changes(config.max_change_share)]
    found: list[ChangePoint] = []
    for seq in searched:
        found.extend(_segment(seq, defect[seq.parts], recorded, defect_class, config,
                              alpha, len(searched)))
    return [_with_advice(c) for c in _distinct(sorted(found, key=_rank), 2 * config.align_parts)]


def _distinct(ranked: list[ChangePoint], window: int) -> list[ChangePoint]:
    """One significant change point per step of the line: where it shows most clearly (a lot
    change seen again, diluted, on every machine its parts passed next is no news). Steps
    within `window` parts of a clearer one, in the same direction, are left out; but when the
    left-out one is lined up with a setting change of its own machine and the clearer one is
    not, it takes the clearer one's place (a tool's own grinder, not the kiln its parts passed
    next)."""
    out: list[ChangePoint] = []
    for c in ranked:
        twin = next((i for i, k in enumerate(out) if c.significant and k.significant
                     and k.direction == c.direction and abs(k.part - c.part) <= window), None)
        if twin is None:
            out.append(c)
        elif _at_home(c) and not _at_home(out[twin]):
            out[twin] = c
    return out


def _at_home(c: ChangePoint) -> bool:
    return c.change is not None and c.change.machine == c.machine


def _own_split(seq: MachineSequence, defect: np.ndarray, change: RecordedChange) -> float:
    """How well the change splits the defects of the machine that recorded it, signed (> 0: the
    rate rose after it): sqrt(d) x the CUSUM distance at the change over that machine's whole
    window. A tool change on one grinder explains a step on that grinder, not one that shows
    on the other grinder's parts; a lot change at the press explains one on every machine."""
    y = defect[seq.parts]
    d, n, q = int(y.sum()), y.size, seq.position_of(change.part)
    if d == 0:
        return 0.0
    return float(np.sqrt(d) * (q / n - y[:q].sum() / d))


def _rank(c: ChangePoint) -> tuple:
    if c.significant:
        return (0, c.direction != RISE, c.q_value, -c.ratio, c.machine, c.position)
    return (1, -c.ratio, c.machine, c.position)


def _segment(seq: MachineSequence, y: np.ndarray, recorded: list[tuple[RecordedChange, float]],
             defect_class: str | None, cfg: ChangePointConfig, alpha: float,
             searched: int) -> list[ChangePoint]:
    """Split where the CUSUM is most extreme while the split is significant; the first scan is
    reported even when it is not (as the strongest candidate of the machine)."""
    cum = np.concatenate(([0], np.cumsum(y, dtype=np.int64)))
    changes = [(seq.position_of(c.part), c, rise) for c, rise in recorded]
    stack, out = [(0, y.size)], []
    while stack and sum(c.significant for c in out) < cfg.max_per_machine:
        a, b = stack.pop()
        cp = _scan(seq, cum, a, b, changes, defect_class, cfg, searched)
        if cp is None:
            continue
        cp = _significance(cp, alpha)
        if cp.significant or (a, b) == (0, y.size):
            out.append(cp)
        if cp.significant:
            stack.extend([(a, cp.position), (cp.position, b)])
    return out


def _significance(cp: ChangePoint, alpha: float) -> ChangePoint:
    return replace(cp, significant=cp.q_value <= alpha)


def _scan(seq: MachineSequence, cum: np.ndarray, a: int, b: int,
          changes: list[tuple[int, RecordedChange, float]], defect_class: str | None,
          cfg: ChangePointConfig, searched: int) -> ChangePoint | None:
    """The most extreme split of [a, b) and its Kolmogorov p-value.

    Given d defects among n parts and no change, their positions are a uniform draw without
    replacement, so sup_k |S_k / d - k / n| (S_k: defects among the first k parts) is at most
    the Kolmogorov distance of d uniform points; kstwo(d) gives its tail. Splits within
    min_segment_parts of either end are not considered (a conservative restriction).
    """
    n, m = b - a, cfg.min_segment_parts
    d = int(cum[b] - cum[a])
    if n < 2 * m or d < cfg.min_defects or d == n:
        return None
    k = np.arange(m, n - m + 1)
    dev = (cum[a + k] - cum[a]) / d - k / n
    j = int(np.argmax(np.abs(dev)))
    estimate, distance = a + int(k[j]), float(abs(dev[j]))
    p = float(stats.kstwo.sf(distance, d))
    position, recorded = estimate, _aligned(seq.machine, changes, estimate, a, b, cum, d, dev[j],
                                         cfg)
    if recorded is not None:
        position, recorded = recorded
    before, after = int(cum[position] - cum[a]), int(cum[b] - cum[position])
    n_before, n_after = position - a, b - position
    rate_before, rate_after = before / n_before, after / n_after
    return ChangePoint(
        machine=seq.machine, steps=tuple(sorted(seq.steps)), defect_class=defect_class,
        direction=RISE if rate_after > rate_before else FALL, position=position,
        serial=seq.serials[position], part=int(seq.parts[position]), estimate=estimate,
        parts_before=n_before, defects_before=before, parts_after=n_after, defects_after=after,
        rate_before=rate_before, rate_after=rate_after,
        ratio=(after + 0.5) / (n_after + 0.5) / ((before + 0.5) / (n_before + 0.5)),
        statistic=distance, p_value=p, q_value=min(1.0, 2 * p * searched), significant=False,
        change=recorded, lag=None if recorded is None else estimate - position,
    )


def _aligned(machine: str, changes: list[tuple[int, RecordedChange, float]], estimate: int,
             a: int, b: int, cum: np.ndarray, d: int, dev: float,
             cfg: ChangePointConfig) -> tuple[int, RecordedChange] | None:
    """Of the recorded changes within align_parts of the estimate that the data cannot tell from
    it (a split there loses at most align_loglik of twice the log-likelihood of the best split:
    a likelihood set for the change's place, narrow for a sharp step), the one that splits the
    defects of its own machine best, in the same direction; a change of this machine's own
    settings first. Every change of every setting is a
    candidate, however many values (tool ids, lots) the setting has."""
    m = cfg.min_segment_parts
    rise = -np.sign(dev)  # fewer defects than even before the split: the rate rose
    near = [(p, c, r * rise) for p, c, r in changes
            if abs(p - estimate) <= cfg.align_parts and a + m <= p <= b - m and r * rise > 0]
    if not near:
        return None
    k = np.array([estimate, *(p for p, _, _ in near)]) - a
    loglik = _split_loglik(k, cum[a + k] - cum[a], b - a, d)
    fits = [(*x, ll) for x, ll in zip(near, loglik[1:], strict=True)
            if 2 * (loglik[0] - ll) <= cfg.align_loglik]
    if not fits:
        return None
    own = [x for x in fits if x[1].machine == machine]
    p, c, _, _ = max(own or fits, key=lambda x: x[2])
    return p, c


def _split_loglik(k: np.ndarray, before: np.ndarray, n: int, d: int) -> np.ndarray:
    """Binomial log-likelihood of a segment of n parts with d defects split after k parts, of
    which `before` were defects (a different rate each side)."""
    def ll(x: np.ndarray, size: np.ndarray) -> np.ndarray:
        rate = x / size
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(x * np.log(rate)) + np.nan_to_num((size - x) * np.log1p(-rate))
    return ll(before, k) + ll(d - before, n - k)


def _with_advice(c: ChangePoint) -> ChangePoint:
    return replace(c, advice=describe_change(c))


def describe_change(c: ChangePoint) -> str:
    """'crack rate on grinder-2 (grinding) rose 3.1x (2.0% -> 6.2%) from part S1 (the 1205th on
    it), 3 parts after grinding.tool went from T05 to T06 on grinder-2: check grinding.tool T06
    on grinder-2.'"""
    what = f"{c.defect_class} rate" if c.defect_class else "NG rate"
    where = f"{c.machine} ({', '.join(c.steps)})"
    moved = "rose" if c.direction == RISE else "fell"
    factor = c.rate_after / c.rate_before if c.rate_before else None
    times = f" {factor:.1f}x" if factor is not None and c.direction == RISE else ""
    evidence = (f"{what} on {where} {moved}{times} ({c.rate_before:.1%} -> {c.rate_after:.1%}: "
                f"{c.defects_before} of {c.parts_before} parts, then {c.defects_after} of "
                f"{c.parts_after}) from part {c.serial} (the {_ordinal(c.position + 1)} on it)")
    if c.change is not None and c.lag is not None:
        when = (f"{c.lag} parts after" if c.lag > 0 else f"{-c.lag} parts before" if c.lag < 0
                else "when")
        evidence += (f", {when} {c.change.parameter} went from {c.change.before} to "
                     f"{c.change.after} on {c.change.machine}")
    if not c.significant:
        return f"Not significant (q = {c.q_value:.2g}): {evidence}."
    if c.change is None:
        check = f"check what changed on {c.machine} around part {c.serial}"
    elif c.direction == RISE:
        check = f"check {c.change.parameter} {c.change.after} on {c.change.machine}"
    else:
        check = f"{c.change.parameter} {c.change.before} went with the higher rate"
    return f"{evidence[0].upper()}{evidence[1:]}: {check}."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

"""Root-cause analytics: which machine, step or parameter goes with the defective parts."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from inspector.errors import TraceError
from inspector.storage.events import EventFacts, EventStore, PartOutcome
from inspector.trace.config import RootCauseConfig
from inspector.trace.features import PartFeatures, build_features
from inspector.trace.stats import (
    Bin,
    TestResult,
    bin_count,
    chi2_groups,
    fdr,
    fisher_greater,
    format_range,
    make_bins,
    quantile_bins,
    rank_biserial,
)

logger = logging.getLogger(__name__)

TESTED, INSUFFICIENT, NO_CONTRAST, DUPLICATE = "tested", "insufficient_data", "no_contrast", \
    "same_as_machine"


@dataclass(frozen=True)
class Finding:
    """One candidate cause: a machine, a machine at one step, or a parameter ('step.name')."""

    kind: str                          # machine | machine_step | parameter
    name: str
    parts: int                         # parts this finding rests on
    defects: int
    status: str                        # tested | insufficient_data | no_contrast | same_as_machine
    test: str | None = None            # fisher_greater | chi2
    p_value: float | None = None
    q_value: float | None = None       # Benjamini-Hochberg adjusted over all tested findings
    effect: float | None = None        # phi / Cramér's V, 0 (none) .. 1
    lift: float | None = None          # worst group's defect rate / this finding's overall rate
    worst: str | None = None           # label of the group with the highest defect rate
    significant: bool = False
    bins: tuple[Bin, ...] = ()
    rank_biserial: float | None = None  # numeric parameters: > 0 when defects have higher values
    note: str = ""


@dataclass(frozen=True)
class RootCauseReport:
    """Ranked findings over a window; says so instead of ranking when data are too few."""

    since: datetime | None
    until: datetime | None
    defect_class: str | None
    parts: int
    defects: int
    status: str                        # ok | insufficient_data
    message: str
    alpha: float
    tests: int                         # size of the multiple-testing family
    ranked: tuple[Finding, ...]        # tested findings, most significant / strongest first
    not_tested: tuple[Finding, ...]
    correction: str = "benjamini-hochberg"
    seconds: float = 0.0

    @property
    def defect_rate(self) -> float:
        return self.defects / self.parts if self.parts else 0.0

    @property
    def significant(self) -> list[Finding]:
        """Findings significant after the correction, in rank order."""
        return [f for f in self.ranked if f.significant]

    def findings(self, kind: str) -> list[Finding]:
        """All findings of one kind (machine, machine_step, parameter), tested first."""
        return [f for f in self.ranked + self.not_tested if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["defect_rate"] = self.defect_rate
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def root_cause(
    events: EventStore, since: datetime, until: datetime,
    defect_class: str | None = None, config: RootCauseConfig | None = None,
) -> RootCauseReport:
    """Analyse parts inspected (status ok) with since <= inspected_at < until."""
    if until <= since:
        raise TraceError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    t0 = time.perf_counter()
    outcomes, facts = events.outcomes(since, until), events.facts(since, until)
    report = analyze(outcomes, facts, defect_class, config)
    seconds = time.perf_counter() - t0
    return dataclasses.replace(report, since=since, until=until, seconds=seconds)


def analyze(
    outcomes: Sequence[PartOutcome], facts: Sequence[EventFacts],
    defect_class: str | None = None, config: RootCauseConfig | None = None,
) -> RootCauseReport:
    """The analysis on already loaded rows (the simulator and tests call it directly)."""
    cfg = config or RootCauseConfig()
    feats = build_features(outcomes, facts, defect_class, cfg.count_review_as_defect)
    base = {"since": None, "until": None, "defect_class": defect_class, "parts": feats.parts,
            "defects": feats.defects, "alpha": cfg.alpha}
    if feats.parts < cfg.min_parts or feats.defects < cfg.min_defects:
        message = (f"insufficient data: {feats.parts} parts with {feats.defects} defects; at "
                   f"least {cfg.min_parts} parts and {cfg.min_defects} defects are needed")
        return RootCauseReport(**base, status=INSUFFICIENT, message=message, tests=0,
                               ranked=(), not_tested=())
    findings = (_machine_findings(feats, cfg) + _machine_step_findings(feats, cfg)
                + _param_findings(feats, cfg))
    findings = _correct(findings, cfg.alpha)
    findings += _same_as_machine(feats, findings)
    tested = [f for f in findings if f.status == TESTED]
    ranked = sorted(tested, key=lambda f: (f.q_value, -(f.effect or 0.0), f.name))
    others = tuple(f for f in findings if f.status != TESTED)
    significant = sum(f.significant for f in ranked)
    message = (f"{feats.parts} parts, {feats.defects} defects ({feats.defects / feats.parts:.1%}); "
               f"{len(tested)} tests, {significant} significant at FDR {cfg.alpha}")
    return RootCauseReport(**base, status="ok", message=message, tests=len(tested),
                           ranked=tuple(ranked), not_tested=others)


def _finding(kind: str, name: str, parts: int, defects: int, cfg: RootCauseConfig,
             group_parts: int | None = None) -> Finding | None:
    """An untested Finding when the data are too few, else None (go on and test)."""
    if parts < cfg.min_parts or defects < cfg.min_defects:
        note = (f"{parts} parts, {defects} defects: need {cfg.min_parts} parts and "
                f"{cfg.min_defects} defects")
        return Finding(kind, name, parts, defects, INSUFFICIENT, note=note)
    if group_parts is not None and group_parts < cfg.min_group_parts:
        note = f"only {group_parts} parts: need {cfg.min_group_parts}"
        return Finding(kind, name, parts, defects, INSUFFICIENT, note=note)
    return None


def _tested(kind: str, name: str, result: TestResult, worst: Bin | None = None,
            **extra: Any) -> Finding:
    """A tested finding; `worst` defaults to the group with the highest defect rate."""
    parts = sum(b.parts for b in result.bins)
    defects = sum(b.defects for b in result.bins)
    worst = worst or max(result.bins, key=lambda b: b.rate)
    return Finding(kind, name, parts, defects, TESTED, result.test, result.p_value,
                   effect=result.effect, lift=worst.lift, worst=worst.label, bins=result.bins,
                   **extra)


def _group_vs_rest(
    kind: str, name: str, group: set[int], pool: set[int], feats: PartFeatures,
    cfg: RootCauseConfig,
) -> Finding:
    rest = pool - group
    d_in = int(feats.defect[list(group)].sum()) if group else 0
    d_out = int(feats.defect[list(rest)].sum()) if rest else 0
    if not rest:
        return Finding(kind, name, len(pool), d_in + d_out, NO_CONTRAST,
                       note="every part of these steps went through it")
    untested = _finding(kind, name, len(pool), d_in + d_out, cfg, len(group))
    if untested is not None:
        return untested
    p, effect = fisher_greater(d_in, len(group), d_out, len(rest))
    bins = make_bins([name, "others at the same step(s)"], np.array([len(group), len(rest)]),
                     np.array([d_in, d_out]))
    # one-sided: the machine itself is the suspect, so its own rate and lift are reported
    return _tested(kind, name, TestResult("fisher_greater", p, effect, bins), worst=bins[0])


def _machine_findings(feats: PartFeatures, cfg: RootCauseConfig) -> list[Finding]:
    out = []
    for machine in sorted(feats.machines):
        pool: set[int] = set()
        for step in feats.steps_of(machine):
            pool |= feats.steps[step]
        out.append(_group_vs_rest("machine", machine, feats.machines[machine], pool, feats, cfg))
    return out


def _machine_step_findings(feats: PartFeatures, cfg: RootCauseConfig) -> list[Finding]:
    """Machine + step, tested only for machines with several steps (else it is the machine)."""
    out = []
    for (machine, step), group in sorted(feats.machine_steps.items()):
        if len(feats.steps_of(machine)) > 1:
            name = f"{machine}/{step}"
            out.append(_group_vs_rest("machine_step", name, group, feats.steps[step], feats, cfg))
    return out


def _same_as_machine(feats: PartFeatures, findings: list[Finding]) -> list[Finding]:
    """Machine + step rows of one-step machines: the machine's own result, not a new test."""
    by_machine = {f.name: f for f in findings if f.kind == "machine"}
    out = []
    for machine, step in sorted(feats.machine_steps):
        if len(feats.steps_of(machine)) == 1:
            same = by_machine[machine]
            status = DUPLICATE if same.status == TESTED else same.status
            out.append(dataclasses.replace(same, kind="machine_step", name=f"{machine}/{step}",
                                           status=status, note=f"same parts as {machine}"))
    return out


def _param_findings(feats: PartFeatures, cfg: RootCauseConfig) -> list[Finding]:
    out = []
    for key in sorted(feats.params):
        values = feats.params[key]
        idx = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
        defect = feats.defect[idx]
        untested = _finding("parameter", key, idx.size, int(defect.sum()), cfg)
        if untested is not None:
            out.append(untested)
            continue
        raw = list(values.values())
        numeric = all(isinstance(v, int | float) for v in raw)
        if numeric and len(set(raw)) > cfg.bins:
            out.append(_numeric(key, np.asarray(raw, dtype=float), defect, cfg))
        else:
            out.append(_categorical(key, [str(v) for v in raw], defect, cfg))
    return out


def _numeric(key: str, values: np.ndarray, defect: np.ndarray, cfg: RootCauseConfig) -> Finding:
    k = bin_count(values.size, int(defect.sum()), cfg.bins)
    index, ranges = quantile_bins(values, k)
    parts = np.bincount(index, minlength=len(ranges))
    defects = np.bincount(index, weights=defect, minlength=len(ranges)).astype(int)
    p, effect = chi2_groups(parts, defects)
    bins = make_bins([format_range(lo, hi) for lo, hi in ranges], parts, defects)
    rb = rank_biserial(values, defect)
    return _tested("parameter", key, TestResult("chi2", p, effect, bins), rank_biserial=rb)


def _categorical(key: str, values: list[str], defect: np.ndarray, cfg: RootCauseConfig) -> Finding:
    counts = Counter(values)
    keep = [v for v, n in counts.most_common(cfg.max_categories) if n >= cfg.min_group_parts]
    labels = [*keep, "other"] if len(keep) < len(counts) else keep
    position = {v: i for i, v in enumerate(keep)}
    index = np.array([position.get(v, len(keep)) for v in values], dtype=np.int64)
    parts = np.bincount(index, minlength=len(labels))
    defects = np.bincount(index, weights=defect, minlength=len(labels)).astype(int)
    present = parts > 0
    if present.sum() < 2:
        return Finding("parameter", key, len(values), int(defect.sum()), NO_CONTRAST,
                       note="a single value (or too few parts per value)")
    labels = [label for label, ok in zip(labels, present, strict=True) if ok]
    parts, defects = parts[present], defects[present]
    p, effect = chi2_groups(parts, defects)
    return _tested("parameter", key, TestResult("chi2", p, effect,
                                                make_bins(labels, parts, defects)))


def _correct(findings: list[Finding], alpha: float) -> list[Finding]:
    tested = [i for i, f in enumerate(findings) if f.status == TESTED]
    qs = fdr([findings[i].p_value for i in tested])
    out = list(findings)
    for i, q in zip(tested, qs, strict=True):
        out[i] = dataclasses.replace(out[i], q_value=q, significant=q <= alpha)
    return out

"""One-condition root-cause tests: each machine, machine at a step, and parameter on its own."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from inspector.trace.config import RootCauseConfig
from inspector.trace.features import ParamValues, PartFeatures
from inspector.trace.report import (
    DUPLICATE,
    INSUFFICIENT,
    NO_CONTRAST,
    TESTED,
    DataIssue,
    Finding,
)
from inspector.trace.stats import (
    Bin,
    TestResult,
    bin_count,
    chi2_groups,
    fisher_greater,
    fisher_greater_many,
    format_number,
    format_range,
    make_bins,
    quantile_bins,
    rank_biserial,
    risk_ratio,
)


def single_findings(feats: PartFeatures, cfg: RootCauseConfig) -> tuple[list[Finding], list[DataIssue]]:
    """Machine, machine+step and parameter findings (untested ones say why), and data issues."""
    params, issues = _param_findings(feats, cfg)
    return _machine_findings(feats, cfg) + _machine_step_findings(feats, cfg) + params, issues


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


def _tested(kind: str, name: str, result: TestResult, worst: Bin, condition: str,
            **extra: Any) -> Finding:
    """A tested finding about the group `worst` (its rate against the other groups')."""
    parts = sum(b.parts for b in result.bins)
    defects = sum(b.defects for b in result.bins)
    n_rest, d_rest = parts - worst.parts, defects - worst.defects
    return Finding(kind, name, parts, defects, TESTED, result.test, result.p_value,
                   effect=result.effect, lift=worst.lift, worst=worst.label, bins=result.bins,
                   conditions=(condition,), group_parts=worst.parts, group_defects=worst.defects,
                   rest_rate=d_rest / n_rest if n_rest else 0.0,
                   risk_ratio=risk_ratio(worst.defects, worst.parts, d_rest, n_rest), **extra)


def _group_vs_rest(kind: str, name: str, group: set[int], pool: set[int], feats: PartFeatures,
                   cfg: RootCauseConfig) -> Finding:
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
    return _tested(kind, name, TestResult("fisher_greater", p, effect, bins), bins[0], name)


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


def same_as_machine(feats: PartFeatures, findings: list[Finding]) -> list[Finding]:
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


def _param_findings(feats: PartFeatures, cfg: RootCauseConfig) -> tuple[list[Finding], list[DataIssue]]:
    out, issues = [], []
    for key in sorted(feats.params):
        pv = feats.typed(key)
        if pv.mixed:
            issues.append(_mixed(key, pv))
        idx, labels = (pv.numeric_index, None) if pv.numeric else (pv.text_index, pv.texts)
        defect = feats.defect[idx]
        untested = _finding("parameter", key, idx.size, int(defect.sum()), cfg)
        if untested is not None:
            out.append(untested)
        elif labels is None and np.unique(pv.numbers).size > cfg.bins:
            out.append(_numeric(key, pv.numbers, defect, cfg))
        else:
            labels = labels or [format_number(v) for v in pv.numbers]
            out.append(_categorical(key, labels, defect, cfg))
    return out, issues


def _mixed(key: str, pv: ParamValues) -> DataIssue:
    kept, dropped = ("numbers", "text") if pv.numeric else ("text", "numbers")
    examples = sorted(set(pv.texts))[:3] if pv.numeric else [format_number(v) for v in
                                                              np.unique(pv.numbers)[:3]]
    message = (f"{key} holds {pv.numbers.size} numbers and {len(pv.texts)} text values "
               f"(e.g. {', '.join(repr(e) for e in examples)}): tested on the {kept} only; "
               f"the parts with {dropped} are left out, not converted")
    return DataIssue(key, "mixed_types", message)


def _numeric(key: str, values: np.ndarray, defect: np.ndarray, cfg: RootCauseConfig) -> Finding:
    k = bin_count(values.size, int(defect.sum()), cfg.bins)
    index, ranges = quantile_bins(values, k)
    parts = np.bincount(index, minlength=len(ranges))
    defects = np.bincount(index, weights=defect, minlength=len(ranges)).astype(int)
    p, effect = chi2_groups(parts, defects)
    bins = make_bins([format_range(lo, hi) for lo, hi in ranges], parts, defects)
    worst = max(bins, key=lambda b: b.rate)
    condition = f"{key} in {worst.label}"
    return _tested("parameter", key, TestResult("chi2", p, effect, bins), worst, condition,
                   rank_biserial=rank_biserial(values, defect))


def _categorical(key: str, values: list[str], defect: np.ndarray, cfg: RootCauseConfig) -> Finding:
    """Each value seen on min_group_parts parts against all others (one-sided Fisher); the
    parameter's p is the smallest times the number of values tested (Bonferroni), so a long
    tail of tool ids or lots is tested whole instead of being cut to the most frequent."""
    labels, index = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    parts = np.bincount(index, minlength=labels.size)
    defects = np.bincount(index, weights=defect, minlength=labels.size).astype(np.int64)
    testable = (parts >= cfg.min_group_parts) & (parts.sum() - parts >= cfg.min_group_parts)
    if testable.sum() < 1 or labels.size < 2:
        return Finding("parameter", key, len(values), int(defect.sum()), NO_CONTRAST,
                       note="a single value (or too few parts per value)")
    n, d = int(parts.sum()), int(defects.sum())
    p_each = fisher_greater_many(defects[testable], parts[testable], d - defects[testable],
                                 n - parts[testable])
    worst_i = np.flatnonzero(testable)[int(np.argmin(p_each))]
    p = float(min(1.0, p_each.min() * testable.sum()))
    bins = _category_bins(labels, parts, defects, testable, cfg.max_categories)
    worst = next(b for b in bins if b.label == str(labels[worst_i]))
    _, effect = fisher_greater(int(defects[worst_i]), int(parts[worst_i]),
                               d - int(defects[worst_i]), n - int(parts[worst_i]))
    note = f"{int(testable.sum())} of {labels.size} values tested (each on its own)"
    return _tested("parameter", key, TestResult("fisher_min_bonferroni", p, effect, bins), worst,
                   f"{key} = {worst.label}", note=note)


def _category_bins(labels: np.ndarray, parts: np.ndarray, defects: np.ndarray,
                   testable: np.ndarray, shown: int) -> tuple[Bin, ...]:
    """The `shown` tested values with the highest rates, the rest pooled as 'other' (display)."""
    rate = np.where(parts > 0, defects / np.maximum(parts, 1), 0.0)
    order = [i for i in np.argsort(-rate, kind="stable") if testable[i]][:shown]
    rest = np.ones(labels.size, dtype=bool)
    rest[order] = False
    names = [str(labels[i]) for i in order]
    counts_p, counts_d = list(parts[order]), list(defects[order])
    if rest.any():
        names.append("other")
        counts_p.append(parts[rest].sum())
        counts_d.append(defects[rest].sum())
    return make_bins(names, np.array(counts_p), np.array(counts_d))

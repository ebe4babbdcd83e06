"""One-condition root-cause tests: each machine, machine at a step, and parameter on its own."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from inspector.storage.window_counts import Histogram, WindowCounts
from inspector.trace.conditions import is_numeric, parameter_keys
from inspector.trace.config import RootCauseConfig
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
    hist_quantile_bins,
    hist_rank_biserial,
    make_bins,
    risk_ratio,
)


def single_findings(counts: WindowCounts,
                    cfg: RootCauseConfig) -> tuple[list[Finding], list[DataIssue]]:
    """Machine, machine+step and parameter findings (untested ones say why), and data issues."""
    params, issues = _param_findings(counts, cfg)
    return _machine_findings(counts, cfg) + _machine_step_findings(counts, cfg) + params, issues


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


def _group_vs_rest(kind: str, name: str, n_in: int, d_in: int, n_pool: int, d_pool: int,
                   cfg: RootCauseConfig, where: str) -> Finding:
    n_out, d_out = n_pool - n_in, d_pool - d_in
    if not n_out:
        return Finding(kind, name, n_pool, d_pool, NO_CONTRAST,
                       note="every part of these steps went through it")
    untested = _finding(kind, name, n_pool, d_pool, cfg, n_in)
    if untested is not None:
        return untested
    p, effect = fisher_greater(d_in, n_in, d_out, n_out)
    bins = make_bins([name, "others at the same step(s)"], np.array([n_in, n_out]),
                     np.array([d_in, d_out]))
    # one-sided: the machine itself is the suspect, so its own rate and lift are reported
    return _tested(kind, name, TestResult("fisher_greater", p, effect, bins), bins[0], name,
                   where=(where,))


def _machine_findings(counts: WindowCounts, cfg: RootCauseConfig) -> list[Finding]:
    out = []
    for machine in sorted(counts.machines):
        m = counts.machines[machine]
        out.append(_group_vs_rest("machine", machine, m.parts, m.defects, m.pool_parts,
                                  m.pool_defects, cfg, machine))
    return out


def machine_steps(counts: WindowCounts) -> list[tuple[str, str]]:
    """Every (machine, step) of the window, sorted."""
    return sorted((m, step) for step in counts.machine_sets for m in counts.machine_names(step))


def _machine_step_findings(counts: WindowCounts, cfg: RootCauseConfig) -> list[Finding]:
    """Machine + step, tested only for machines with several steps (else it is the machine)."""
    out = []
    for machine, step in machine_steps(counts):
        if len(counts.steps_of(machine)) > 1:
            n_in, d_in = counts.machine_step(machine, step)
            n_pool, d_pool = counts.steps[step]
            out.append(_group_vs_rest("machine_step", f"{machine}/{step}", n_in, d_in, n_pool,
                                      d_pool, cfg, f"{machine} ({step})"))
    return out


def same_as_machine(counts: WindowCounts, findings: list[Finding]) -> list[Finding]:
    """Machine + step rows of one-step machines: the machine's own result, not a new test."""
    by_machine = {f.name: f for f in findings if f.kind == "machine"}
    out = []
    for machine, step in machine_steps(counts):
        if len(counts.steps_of(machine)) == 1:
            same = by_machine[machine]
            status = DUPLICATE if same.status == TESTED else same.status
            out.append(dataclasses.replace(same, kind="machine_step", name=f"{machine}/{step}",
                                           status=status, note=f"same parts as {machine}"))
    return out


def _param_findings(counts: WindowCounts,
                    cfg: RootCauseConfig) -> tuple[list[Finding], list[DataIssue]]:
    out, issues = [], []
    empty = Histogram.of([], [], [], numeric=False)
    for key in sorted(parameter_keys(counts)):
        numbers = counts.numbers.get(key, empty)
        texts = counts.texts.get(key, empty)
        numeric = is_numeric(counts, key)
        if numbers.total and texts.total:
            issues.append(_mixed(key, numbers, texts, numeric))
        h = numbers if numeric else texts
        untested = _finding("parameter", key, h.total, h.total_defects, cfg)
        if untested is not None:
            out.append(untested)
        elif numeric and h.values.size > cfg.bins:
            out.append(_numeric(key, h, cfg))
        else:
            if numeric:
                h = Histogram.of([format_number(v) for v in h.values], list(h.parts),
                                 list(h.defects), numeric=False)
            out.append(_categorical(key, h, cfg))
    return out, issues


def _mixed(key: str, numbers: Histogram, texts: Histogram, numeric: bool) -> DataIssue:
    kept, dropped = ("numbers", "text") if numeric else ("text", "numbers")
    examples = ([str(v) for v in texts.values[:3]] if numeric
                else [format_number(v) for v in numbers.values[:3]])
    message = (f"{key} holds {numbers.total} numbers and {texts.total} text values "
               f"(e.g. {', '.join(repr(e) for e in examples)}): tested on the {kept} only; "
               f"the parts with {dropped} are left out, not converted")
    return DataIssue(key, "mixed_types", message)


def _numeric(key: str, h: Histogram, cfg: RootCauseConfig) -> Finding:
    k = bin_count(h.total, h.total_defects, cfg.bins)
    index, ranges = hist_quantile_bins(h.values, h.parts, k)
    parts = np.bincount(index, weights=h.parts, minlength=len(ranges)).astype(np.int64)
    defects = np.bincount(index, weights=h.defects, minlength=len(ranges)).astype(np.int64)
    p, effect = chi2_groups(parts, defects)
    bins = make_bins([format_range(lo, hi) for lo, hi in ranges], parts, defects)
    worst_i = max(range(len(bins)), key=lambda i: bins[i].rate)
    worst = bins[worst_i]
    lo, hi = ranges[worst_i]
    condition = f"{key} in {worst.label}"
    return _tested("parameter", key, TestResult("chi2", p, effect, bins), worst, condition,
                   rank_biserial=hist_rank_biserial(h.parts, h.defects),
                   where=(f"{key} in {lo!r} .. {hi!r}",))


def _categorical(key: str, h: Histogram, cfg: RootCauseConfig) -> Finding:
    """Each value seen on min_group_parts parts against all others (one-sided Fisher); the
    parameter's p is the smallest times the number of values tested (Bonferroni), so a long
    tail of tool ids or lots is tested whole instead of being cut to the most frequent."""
    labels, parts, defects = h.values, h.parts, h.defects
    testable = (parts >= cfg.min_group_parts) & (parts.sum() - parts >= cfg.min_group_parts)
    if testable.sum() < 1 or labels.size < 2:
        return Finding("parameter", key, h.total, h.total_defects, NO_CONTRAST,
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
                   f"{key} = {worst.label}", note=note, where=(f"{key} = {worst.label}",))


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

"""Root-cause analytics: which machine, parameter or pair of conditions goes with the defects."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import numpy as np

from inspector.errors import TraceError
from inspector.storage.block_window import BlockWindow
from inspector.storage.events import EventFacts, EventStore, PartOutcome
from inspector.storage.rootcause_blocks import HourBlocks
from inspector.storage.window_counts import LevelFeature, WindowCounts
from inspector.trace.changepoints import (
    attach_change_points,
    build_sequences,
    sequences_from_rows,
)
from inspector.trace.conditions import build_conditions
from inspector.trace.config import RootCauseConfig
from inspector.trace.counts import level_codes, window_counts
from inspector.trace.features import build_features
from inspector.trace.interactions import Crosstabs, PairTests, test_pairs
from inspector.trace.report import (
    DUPLICATE,
    INSUFFICIENT,
    NO_CONTRAST,
    TESTED,
    DataIssue,
    Finding,
    RootCauseReport,
)
from inspector.trace.singles import same_as_machine, single_findings
from inspector.trace.stats import holm
from inspector.trace.wording import describe

logger = logging.getLogger(__name__)

__all__ = ["DUPLICATE", "INSUFFICIENT", "NO_CONTRAST", "TESTED", "DataIssue", "Finding",
           "RootCauseReport", "analyze", "root_cause"]


def root_cause(
    events: EventStore, since: datetime, until: datetime,
    defect_class: str | None = None, config: RootCauseConfig | None = None,
    station_id: str | None = None,
) -> RootCauseReport:
    """Analyse parts inspected (status ok) with since <= inspected_at < until (only those of
    one station when `station_id` is given).

    Raises TraceError when the window is inverted or holds no parts (saying what the
    history spans), or when `defect_class` is not a label of any part in the window.
    """
    if until <= since:
        raise TraceError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    t0 = time.perf_counter()
    cfg = config or RootCauseConfig()
    # one block of columns per station and hour, cached in the database while no write
    # touches its hour: a month's window reads blocks instead of millions of rows
    blocks = HourBlocks(events.engine)
    window = BlockWindow(blocks.read(since, until, station_id), since, until, defect_class,
                         cfg.count_review_as_defect, blocks.load_sequences)
    counts = window.counts()
    if not counts.parts:
        raise TraceError(_empty_window(events, since, until, station_id))
    check_labels(counts.labels, counts.parts, defect_class)
    report = analyze_counts(counts, window.level_codes, defect_class, cfg)
    report = attach_change_points(
        report, lambda: sequences_from_rows(window.sequence_rows()), cfg)
    seconds = time.perf_counter() - t0
    return dataclasses.replace(report, since=since, until=until, seconds=seconds)


def _empty_window(events: EventStore, since: datetime, until: datetime,
                  station_id: str | None = None) -> str:
    at = "" if station_id is None else f" at station {station_id!r}"
    window = (f"the window {since:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} UTC found 0 parts"
              f"{at}")
    history = events.history(station_id)
    if not history.parts or history.first is None or history.last is None:
        return f"{window}; the store holds no inspected parts{at} at all"
    return (f"{window}; the history spans {history.first:%Y-%m-%d %H:%M} .. "
            f"{history.last:%Y-%m-%d %H:%M} UTC ({history.parts} parts): choose since/until "
            "inside it")


def check_defect_class(outcomes: Sequence[PartOutcome], defect_class: str | None) -> None:
    """A class that no part of the window carries is a TraceError naming the ones there are."""
    check_labels(_labels(outcomes), len(outcomes), defect_class)


def _labels(outcomes: Sequence[PartOutcome]) -> frozenset[str]:
    labels = {o.label for o in outcomes} | {o.review_label for o in outcomes}
    labels.discard(None)
    return frozenset(label for label in labels if label is not None)


def check_labels(labels: frozenset[str], parts: int, defect_class: str | None) -> None:
    """check_defect_class on the labels a window carries and its number of parts."""
    if defect_class is None or defect_class in labels:
        return
    close = difflib.get_close_matches(defect_class, sorted(labels), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TraceError(f"unknown defect class {defect_class!r}{hint}: the {parts} parts of "
                     f"this window carry the labels {', '.join(sorted(labels)) or 'none'}")


def analyze(
    outcomes: Sequence[PartOutcome], facts: Sequence[EventFacts],
    defect_class: str | None = None, config: RootCauseConfig | None = None,
) -> RootCauseReport:
    """The analysis on already loaded rows (the simulator and tests call it directly)."""
    cfg = config or RootCauseConfig()
    if not outcomes:
        raise TraceError("no inspected parts to analyse")
    check_defect_class(outcomes, defect_class)
    feats = build_features(outcomes, facts, defect_class, cfg.count_review_as_defect)
    counts = window_counts(feats, _labels(outcomes))
    report = analyze_counts(counts, lambda features: level_codes(feats, features), defect_class,
                            cfg)
    return attach_change_points(report, lambda: build_sequences(
        outcomes, facts, defect_class, cfg.count_review_as_defect), cfg)


LevelCodes = Callable[[Sequence[LevelFeature]], Iterable[tuple[np.ndarray, np.ndarray]]]


def analyze_counts(counts: WindowCounts, codes: LevelCodes, defect_class: str | None,
                   cfg: RootCauseConfig) -> RootCauseReport:
    """The analysis on a window's counts; `codes` streams per-part levels for the pair counts."""
    base = {"since": None, "until": None, "defect_class": defect_class, "parts": counts.parts,
            "defects": counts.defects, "alpha": cfg.alpha}
    if counts.parts < cfg.min_parts or counts.defects < cfg.min_defects:
        message = (f"insufficient data: {counts.parts} parts with {counts.defects} defects; at "
                   f"least {cfg.min_parts} parts and {cfg.min_defects} defects are needed")
        return RootCauseReport(**base, status=INSUFFICIENT, message=message, tests=0,
                               ranked=(), not_tested=())
    singles, issues = single_findings(counts, cfg)
    pairs = _pairs(counts, codes, cfg)
    tested, family = _correct(singles, pairs, cfg.alpha)
    ranked = _rank(tested, pairs, cfg.max_combinations)
    ranked = [dataclasses.replace(f, advice=describe(f, defect_class, family)) for f in ranked]
    others = [f for f in singles if f.status != TESTED] + same_as_machine(counts, singles)
    significant = sum(f.significant for f in ranked)
    message = (f"{counts.parts} parts, {counts.defects} defects ({counts.defects / counts.parts:.1%}); "
               f"{family} tests ({pairs.p_values.size} of them two-condition groups), "
               f"{significant} significant at {cfg.alpha} (Holm)")
    return RootCauseReport(**base, status="ok", message=message, tests=family,
                           ranked=tuple(ranked), not_tested=tuple(others),
                           data_issues=tuple(issues),
                           combinations_tested=int(pairs.p_values.size))


def _pairs(counts: WindowCounts, codes: LevelCodes, cfg: RootCauseConfig) -> PairTests:
    if not cfg.combinations:
        return PairTests(np.empty(0), (), ())
    cs = build_conditions(counts, cfg)
    tabs = Crosstabs([f.size for f in cs.levels])
    if len(cs.levels) > 1:
        for chunk, defect in codes(cs.levels):
            tabs.add(chunk, defect)
    return test_pairs(cs, tabs, cfg)


def _correct(singles: list[Finding], pairs: PairTests, alpha: float) -> tuple[list[Finding], int]:
    """Holm within each family, single findings and two-condition groups, each at alpha/2:
    the chance that any harmless machine, parameter or pair is called significant stays at
    most alpha, and the many pairs searched do not drown a plain single cause."""
    tested = [f for f in singles if f.status == TESTED]
    families = 2 if pairs.p_values.size else 1
    q_single = holm([f.p_value or 0.0 for f in tested])
    q_pair = holm([float(p) for p in pairs.p_values])
    out = []
    for f, q in zip(tested, q_single, strict=True):
        q = min(1.0, q * families)
        out.append(dataclasses.replace(f, q_value=q, significant=q <= alpha))
    for finding, position in zip(pairs.findings, pairs.chosen, strict=True):
        q = min(1.0, q_pair[position] * families)
        out.append(dataclasses.replace(finding, q_value=q, significant=q <= alpha))
    return out, len(q_single) + len(q_pair)


def _rank(findings: list[Finding], pairs: PairTests, max_combinations: int) -> list[Finding]:
    """Significant first, by q; a significant combination goes just before the single findings
    it refines (it is worse than each of its conditions alone). Then the others by effect
    (rate ratio), not by p-values that depend on how many groups a parameter has."""
    parents = {f.name: p for f, p in zip(pairs.findings, pairs.parents, strict=True)}
    q_of = {f.name: f.q_value for f in findings if f.significant and f.kind != "combination"}

    def key(f: Finding) -> tuple:
        if not f.significant:
            return (1, 0.0, 0, -(f.risk_ratio or 0.0), f.name)
        q = f.q_value or 0.0
        if f.kind == "combination":
            q = min([q, *(q_of[n] for n in parents.get(f.name, ()) if n in q_of)])
        return (0, q, 0 if f.kind == "combination" else 1, -(f.risk_ratio or 0.0), f.name)

    ranked = sorted(findings, key=key)
    quiet = [f for f in ranked if f.kind == "combination" and not f.significant]
    dropped = {id(f) for f in quiet[max_combinations:]}
    return [f for f in ranked if id(f) not in dropped]

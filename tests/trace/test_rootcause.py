"""Root cause on simulated lines: finds a planted cause, stays quiet on noise, says 'too few'."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from inspector.domain import Status
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.rootcause import analyze, root_cause
from inspector.trace.simulate import (
    LineSpec,
    PlantedCause,
    simulate,
    to_analysis_rows,
    to_inspection,
)


def _report(parts: int, seed: int, cause: PlantedCause | None, defect_class: str | None = None):
    simulated = list(simulate(LineSpec(parts=parts, seed=seed, cause=cause)))
    return analyze(*to_analysis_rows(simulated), defect_class=defect_class)


@pytest.mark.parametrize("seed", [11, 12])
def test_planted_cause_ranks_first_and_is_significant(seed: int) -> None:
    cause = PlantedCause()
    report = _report(4000, seed, cause)
    assert report.status == "ok" and report.parts == 4000
    top = report.ranked[0]
    assert top.name in cause.names and top.significant
    assert top.parts >= 1000 and top.defects >= 5
    assert top.q_value is not None and top.q_value <= report.alpha
    assert top.lift is not None and top.lift > 1.2


def test_defect_class_focus_finds_the_cause_of_cracks() -> None:
    report = _report(4000, 13, PlantedCause(), defect_class="crack")
    assert report.defect_class == "crack"
    assert report.ranked[0].name == "firing.temperature"
    worst = max(report.ranked[0].bins, key=lambda b: b.rate)
    assert float(worst.label.split(" .. ")[0]) > 860  # the hot end of the range
    assert report.ranked[0].rank_biserial is not None and report.ranked[0].rank_biserial > 0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_pure_noise_reports_nothing_significant(seed: int) -> None:
    report = _report(4000, seed, None)
    assert report.status == "ok" and report.tests > 10
    assert report.significant == []


def test_too_few_parts_say_insufficient_data_instead_of_ranking() -> None:
    report = _report(20, 1, PlantedCause())
    assert report.status == "insufficient_data"
    assert report.ranked == () and "insufficient data: 20 parts" in report.message


def test_a_rare_parameter_is_not_ranked() -> None:
    simulated = list(simulate(LineSpec(parts=2000, seed=3, cause=None)))
    outcomes, facts = to_analysis_rows(simulated)
    grinding = [f for f in facts if f.step == "grinding"][:10]  # 10 parts only
    rare = [f._replace(parameters={**f.parameters, "probe": 1.0}) for f in grinding]
    report = analyze(outcomes, [*facts, *rare])
    probe = next(f for f in report.not_tested if f.name == "grinding.probe")
    assert probe.status == "insufficient_data" and probe.parts == 10
    assert "need 30 parts" in probe.note
    assert {f.kind for f in report.ranked} == {"machine", "parameter", "combination"}
    assert report.findings("machine_step")  # rows exist, shown as the machine's own result


def test_root_cause_from_the_store_uses_the_window_and_ok_rows(
    store: InspectionStore, events: EventStore
) -> None:
    simulated = list(simulate(LineSpec(parts=400, seed=5)))
    rows = [to_inspection(p) for p in simulated]
    rows[0] = dataclasses.replace(rows[0], status=Status.ERROR)  # not a model verdict
    store.write(rows)
    events.insert([e for p in simulated for e in p.events])
    since = simulated[0].inspected_at
    until = simulated[300].inspected_at  # exclusive: parts 0..299, of which one is an error row
    report = root_cause(events, since, until)
    assert report.parts == 299
    assert report.since == since and report.seconds > 0
    assert report.to_dict()["parts"] == 299
    with pytest.raises(Exception, match="must be after"):
        root_cause(events, until, since - timedelta(seconds=1))

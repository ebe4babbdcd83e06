"""Change points: a bad tool going in on one grinder is found, named and worded; stable lines stay quiet."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from inspector.api.schemas import RootCausePublic
from inspector.cli import app
from inspector.domain import Verdict
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.store import InspectionStore
from inspector.trace.changepoints import (
    RISE,
    build_sequences,
    change_points,
    segment_machines,
)
from inspector.trace.config import ChangePointConfig, RootCauseConfig
from inspector.trace.rootcause import root_cause
from inspector.trace.simulate import SimulatedPart, to_inspection
from inspector.trace.timelines import (
    START,
    ToolLine,
    change_power,
    generate_tool_line,
    tool_line_sequences,
)

SEEDS = range(20)
CFG = ChangePointConfig()


def _is_planted(line: ToolLine, found: list) -> bool:
    tool, _ = line.planted()
    top = found[0]
    return (top.significant and top.direction == RISE and top.machine == "grinder-2"
            and top.change is not None and top.change.machine == "grinder-2"
            and top.change.parameter == "grinding.tool" and top.change.after == tool)


def test_planted_tool_change_is_the_top_change_point_in_18_of_20_seeds() -> None:
    """The bad tool triples cracks on grinder-2 from about 60% of its parts: detectable with
    power >= 0.95 (ToolLine.power), so >= 18/20 of the seeds must name that tool first."""
    assert ToolLine().power() >= 0.95
    hits = 0
    for seed in SEEDS:
        line = ToolLine(seed=seed)
        defect, sequences = tool_line_sequences(line)
        hits += _is_planted(line, segment_machines(defect, sequences, "crack", CFG, 0.05))
    assert hits >= 18


def test_stable_lines_show_a_significant_change_point_in_at_most_1_of_20_seeds() -> None:
    """Every lot and tool change is a decoy here (60 tool ids, 6 lots)."""
    false_alarms = 0
    for seed in SEEDS:
        defect, sequences = tool_line_sequences(ToolLine(seed=seed, factor=1.0))
        found = segment_machines(defect, sequences, "crack", CFG, 0.05)
        false_alarms += any(c.significant for c in found)
    assert false_alarms <= 1


def test_power_grows_with_the_step_and_a_doubling_is_not_detectable_here() -> None:
    small, planted = ToolLine(factor=2.0).power(), ToolLine(factor=3.0).power()
    assert small < 0.5 < 0.95 <= planted
    assert change_power(1000, 1000, 0.02, 0.02) < 0.01  # no step: at most the false-alarm rate


def test_rows_from_the_store_build_the_same_sequences_as_the_bulk_builder() -> None:
    line = ToolLine(seed=3)
    outcomes, facts = generate_tool_line(line)
    defect, sequences = build_sequences(outcomes, facts, "crack")
    bulk_defect, bulk = tool_line_sequences(line)
    assert np.array_equal(defect, bulk_defect)
    assert [s.machine for s in sequences] == [s.machine for s in bulk]
    for s, b in zip(sequences, bulk, strict=True):
        assert np.array_equal(s.parts, b.parts)
        assert {c.serial for c in s.changes(0.1)} == {c.serial for c in b.changes(0.1)}
    found = change_points(outcomes, facts, "crack", CFG, 0.05)
    assert _is_planted(line, found)


def test_every_tool_id_is_a_candidate_and_a_per_part_setting_is_none() -> None:
    outcomes, facts = generate_tool_line(ToolLine(seed=1))
    _, sequences = build_sequences(outcomes, facts, "crack")
    grinder = next(s for s in sequences if s.machine == "grinder-2")
    tools = {f.parameters["tool"] for f in facts if f.machine == "grinder-2"}
    assert len(tools) > 12                   # more ids than a categorical test would keep
    assert len(grinder.changes(0.1)) == len(tools) - 1
    kiln = next(s for s in sequences if s.machine == "kiln-1")
    assert kiln.changes(0.1) == []          # the zone is drawn per part: not a setting


def test_a_step_without_a_recorded_change_says_where_to_look() -> None:
    line = ToolLine(seed=0)
    defect, sequences = tool_line_sequences(line)
    for s in sequences:
        s.values.clear()                    # no settings recorded at all
    top = segment_machines(defect, sequences, "crack", CFG, 0.05)[0]
    assert top.significant and top.machine == "grinder-2" and top.change is None
    assert f"check what changed on grinder-2 around part {top.serial}" in top.advice


def _store_line(store: InspectionStore, events: EventStore, line: ToolLine) -> None:
    outcomes, facts = generate_tool_line(line)
    offsets = {"pressing": 0, "firing": 30, "grinding": 90, "coating": 100}
    at = {o.serial: o.inspected_at - timedelta(minutes=110) for o in outcomes}
    process = [ProcessEvent(f.serial, f.machine, f.step,
                            at[f.serial] + timedelta(minutes=offsets[f.step]), f.parameters)
               for f in facts]
    store.write([to_inspection(SimulatedPart(o.serial, o.inspected_at, o.label or "free",
                                             Verdict(o.verdict), ()))
                 for o in outcomes])
    events.insert(process)


def test_root_cause_reports_the_tool_change_with_its_evidence(
    store: InspectionStore, events: EventStore
) -> None:
    line = ToolLine(parts=2000, seed=2, factor=5.0)
    _store_line(store, events, line)
    until = START + timedelta(days=1)
    report = root_cause(events, START, until, "crack")
    assert _is_planted(line, list(report.changes))
    top = report.changes[0]
    tool, _ = line.planted()
    assert top.advice.startswith("Crack rate on grinder-2 (grinding) rose ")
    assert f"grinding.tool went from T{int(tool[1:]) - 1} to {tool} on grinder-2" in top.advice
    assert top.advice.endswith(f"check grinding.tool {tool} on grinder-2.")
    assert f"{top.defects_after} of {top.parts_after}" in top.advice
    assert "significant" in report.changes_message
    public = RootCausePublic.of(report.to_dict())
    assert public.changes[0].change is not None and public.changes[0].change.after == tool
    skipped = root_cause(events, START, until, "crack", RootCauseConfig(
        changes=ChangePointConfig(max_parts=100)))
    assert skipped.changes == () and "not searched" in skipped.changes_message
    printed = CliRunner().invoke(app, ["root-cause", "--since", START.isoformat(), "--until",
                                       until.isoformat(), "--defect-class", "crack", "--db",
                                       str(store.engine.url)])
    assert printed.exit_code == 0, printed.output
    assert top.advice in printed.output and report.changes_message in printed.output


@pytest.mark.parametrize("direction", ["rise", "fall"])
def test_a_step_either_way_is_reported_with_its_direction(direction: str) -> None:
    rng = np.random.default_rng(4)
    rates = np.r_[np.full(1500, 0.02), np.full(1500, 0.07)]
    defect = rng.random(3000) < (rates if direction == "rise" else rates[::-1])
    outcomes, facts = generate_tool_line(ToolLine(parts=3000, factor=1.0))
    outcomes = [o.__class__(o.serial, o.inspected_at, "NG" if d else "OK", "crack" if d else "free",
                            None) for o, d in zip(outcomes, defect, strict=True)]
    top = change_points(outcomes, facts, "crack", CFG, 0.05)[0]
    assert top.significant and top.direction == direction
    assert (top.rate_after > top.rate_before) == (direction == "rise")
    assert abs(top.estimate * 2 - 1500) < 300   # a machine sees about half of the parts

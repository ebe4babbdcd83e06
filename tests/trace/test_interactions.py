"""Two-condition causes, decoys, high-cardinality categories and the wording (issue 30 items 1, 6)."""

from __future__ import annotations

import re

import pytest

from inspector.trace.report import RootCauseReport
from inspector.trace.rootcause import analyze
from inspector.trace.scenarios import Scenario, generate, interaction_power

SEEDS = range(20)
DECOYS = ("coating.viscosity", "grinder-3")


def _report(sc: Scenario) -> RootCauseReport:
    return analyze(*generate(sc), defect_class="crack")


def _decoy_called(report: RootCauseReport) -> bool:
    return any(d in f.name for f in report.significant for d in DECOYS)


@pytest.fixture(scope="module")
def planted() -> list[tuple[Scenario, RootCauseReport]]:
    return [(sc, _report(sc)) for sc in (Scenario(seed=seed) for seed in SEEDS)]


def test_the_planted_pair_is_detectable(planted) -> None:
    """Power of the test design, with the family size the analysis actually searched."""
    sc, report = planted[0]
    assert interaction_power(sc, report.combinations_tested) >= 0.95


def test_a_planted_interaction_is_the_top_finding_in_18_of_20_seeds(planted) -> None:
    hits = [sc.is_planted(r.ranked[0].conditions) and r.ranked[0].significant for sc, r in planted]
    assert sum(hits) >= 18, [r.ranked[0].name for _, r in planted]
    top = planted[0][1].ranked[0]
    assert top.kind == "combination" and top.group_parts and top.group_defects
    assert top.parts > top.group_parts  # it rests on the pool it was compared within
    assert [b.label.split(" ")[-1] for b in top.bins][-1] == "neither"


def test_decoys_stay_quiet_beside_a_planted_cause(planted) -> None:
    assert sum(_decoy_called(r) for _, r in planted) <= 1


def test_decoys_stay_quiet_on_a_clean_line() -> None:
    reports = [_report(Scenario(parts=3_000, seed=100 + seed, factor=1.0)) for seed in SEEDS]
    assert sum(_decoy_called(r) for r in reports) <= 1
    assert all(r.combinations_tested > 500 for r in reports)


def test_the_finding_reads_as_an_engineer_would_write_it(planted) -> None:
    top = planted[0][1].ranked[0]
    pattern = (r"Parts from pressing\.lot L03 and with pressing\.dwell_s < 1\.9\d+ show crack "
               r"\d+\.\dx as often \(\d+ of \d+, against \d+\.\d%\): check pressing\.dwell_s for "
               r"pressing\.lot L03\.")
    assert re.fullmatch(pattern, top.advice), top.advice
    quiet = next(f for f in planted[0][1].ranked if not f.significant)
    assert quiet.advice.startswith("Not significant after ")


def test_non_significant_findings_are_ordered_by_effect(planted) -> None:
    report = planted[0][1]
    quiet = [f.risk_ratio for f in report.ranked if not f.significant]
    assert quiet == sorted(quiet, reverse=True) and len(quiet) > 5


def test_a_bad_tool_among_40_is_found_without_cutting_to_the_most_frequent() -> None:
    report = _report(Scenario(seed=3, factor=1.0, tools=40, tool_factor=6.0))
    tool = next(f for f in report.significant if f.name == "grinding.tool")
    assert tool.worst == "T001" and tool.test == "fisher_min_bonferroni"
    assert "40 of 40 values tested" in tool.note
    assert tool.advice.endswith("check grinding.tool T001.")

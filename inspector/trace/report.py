"""The one typed result of a root-cause analysis that the API, the CLI and the dashboard show."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inspector.trace.changepoints import ChangePoint
from inspector.trace.stats import Bin

TESTED, INSUFFICIENT, NO_CONTRAST, DUPLICATE = "tested", "insufficient_data", "no_contrast", \
    "same_as_machine"


@dataclass(frozen=True)
class Finding:
    """One candidate cause: a machine, a machine at one step, a parameter ('step.name'), or a
    combination of two conditions (machine, parameter range, category value)."""

    kind: str                          # machine | machine_step | parameter | combination
    name: str
    parts: int                         # parts this finding rests on
    defects: int
    status: str                        # tested | insufficient_data | no_contrast | same_as_machine
    test: str | None = None            # fisher_greater | chi2 | fisher_min_bonferroni | fisher_iut
    p_value: float | None = None
    q_value: float | None = None       # Holm-adjusted over every test of the analysis
    effect: float | None = None        # phi / Cramér's V, 0 (none) .. 1
    lift: float | None = None          # worst group's defect rate / this finding's overall rate
    worst: str | None = None           # label of the group with the highest defect rate
    significant: bool = False
    bins: tuple[Bin, ...] = ()
    rank_biserial: float | None = None  # numeric parameters: > 0 when defects have higher values
    note: str = ""
    conditions: tuple[str, ...] = ()   # the suspect group: ('pressing.lot = L7', 'pressing.dwell_s < 1.8')
    group_parts: int | None = None     # parts in the suspect group
    group_defects: int | None = None
    rest_rate: float | None = None     # defect rate of the other parts the test compares with
    risk_ratio: float | None = None    # group rate / rest rate (+0.5 per cell): the ranking effect
    advice: str = ""                   # the finding as an engineer would write it
    where: tuple[str, ...] = ()        # the group as inspection filters (exact numbers):
    #                                    GET /inspections?condition=... lists its parts


@dataclass(frozen=True)
class DataIssue:
    """Something in the data the analysis met and did not silently fix."""

    parameter: str
    issue: str                         # mixed_types
    message: str


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
    ranked: tuple[Finding, ...]        # significant first (refinements before what they refine)
    not_tested: tuple[Finding, ...]
    correction: str = "holm"
    seconds: float = 0.0
    data_issues: tuple[DataIssue, ...] = ()
    combinations_tested: int = 0       # two-condition groups in the family (`tests` counts them)
    changes: tuple[ChangePoint, ...] = ()  # steps in a machine's defect rate, significant first
    changes_message: str = ""          # what the change-point search covered, or why it did not run

    @property
    def defect_rate(self) -> float:
        return self.defects / self.parts if self.parts else 0.0

    @property
    def significant(self) -> list[Finding]:
        """Findings significant after the correction, in rank order."""
        return [f for f in self.ranked if f.significant]

    def findings(self, kind: str) -> list[Finding]:
        """All findings of one kind (machine, machine_step, parameter, combination), tested first."""
        return [f for f in self.ranked + self.not_tested if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["defect_rate"] = self.defect_rate
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out

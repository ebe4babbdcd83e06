"""Findings as an engineer would write them: the group, how much worse, the evidence, what to check."""

from __future__ import annotations

import re

from inspector.trace.report import Finding

_NUMERIC = re.compile(r"^(?P<key>\S+) (?P<op><|>=|in) (?P<value>.+)$")
_CATEGORY = re.compile(r"^(?P<key>\S+) = (?P<value>.+)$")
_MACHINE = re.compile(r"^(?P<machine>.+) \((?P<step>[^()]+)\)$")


def describe(f: Finding, defect_class: str | None, tests: int) -> str:
    """One sentence with the evidence; a non-significant finding says so instead of advising."""
    if f.group_parts is None or f.group_defects is None or f.rest_rate is None:
        return f.note
    group = " and ".join(_phrase(c, f.kind) for c in f.conditions)
    outcome = f"show {defect_class}" if defect_class else "are NG"
    rate = f.group_defects / f.group_parts if f.group_parts else 0.0
    if f.rest_rate > 0:
        against = f"against {f.rest_rate:.1%}"
        times = f"{rate / f.rest_rate:.1f}x as often"
    else:
        against, times = "against none of the others", "while the others never do"
    evidence = f"parts {group} {outcome} {times} ({f.group_defects} of {f.group_parts}, {against})"
    if f.significant:
        return f"{evidence[0].upper()}{evidence[1:]}: check {_target(f)}."
    return f"Not significant after {tests} tests (q = {f.q_value or 1.0:.2g}): {evidence}."


def _phrase(condition: str, kind: str) -> str:
    """'coating.lot = L7' -> 'from coating.lot L7'; 'a.b < 1.8' -> 'with a.b < 1.8'."""
    if kind in ("machine", "machine_step"):
        return f"made on {condition}"
    if m := _NUMERIC.match(condition):
        op = "" if m["op"] == "in" else f"{m['op']} "
        return f"with {m['key']} {op}{m['value']}"
    if m := _CATEGORY.match(condition):
        return f"from {m['key']} {m['value']}"
    if m := _MACHINE.match(condition):
        return f"made on {m['machine']} ({m['step']})"
    return f"with {condition}"


def _bare(condition: str) -> str:
    """A condition without its preposition: 'coating.lot L7', 'kiln-2 (firing)'."""
    return _phrase(condition, "").split(" ", 1)[1]


def _target(f: Finding) -> str:
    if f.kind in ("machine", "machine_step"):
        return f"{f.name} (setup, maintenance and changes in this window)"
    numeric = [c for c in f.conditions if _NUMERIC.match(c)]
    other = [c for c in f.conditions if not _NUMERIC.match(c)]
    if f.kind == "parameter" and numeric:
        m = _NUMERIC.match(numeric[0])
        assert m is not None
        return f"{m['key']} (the defects cluster at {m['value']})"
    if f.kind == "parameter":
        return _bare(f.conditions[0])
    if len(numeric) == 1 and other:
        key = _NUMERIC.match(numeric[0])
        assert key is not None
        return f"{key['key']} for {_bare(other[0])}"
    return " together with ".join(_bare(c) for c in f.conditions)

"""Upstream conditions on inspections ('kiln-2 (firing)', 'pressing.dwell_s < 1.97'): EXISTS joins
on process_events by serial, so a root-cause finding lists the parts it rests on."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from inspector.errors import StoreError

_PARAM = re.compile(r"^(?P<step>[^.\s]+)\.(?P<name>\S+) (?P<op><|>=|=|in) (?P<value>.+)$")
_MACHINE_AT = re.compile(r"^(?P<machine>\S.*) \((?P<step>[^()]+)\)$")
_RANGE = re.compile(r"^(?P<lo>\S+) \.\. (?P<hi>\S+)$")
MAX_CONDITIONS = 3


@dataclass(frozen=True)
class Upstream:
    """One condition on what happened to a part upstream.

    machine: the part went through `machine` (at `step` when given). Otherwise parameter
    `name` of `step`: op '<' (below `high`), '>=' (at least `low`), 'in' (low..high, both
    inclusive) or '=' (`text`, or the number it spells).
    """

    step: str | None = None
    machine: str | None = None
    name: str | None = None
    op: str | None = None
    low: float | None = None
    high: float | None = None
    text: str | None = None

    @classmethod
    def parse(cls, condition: str) -> Upstream:
        """'kiln-2', 'kiln-2 (firing)', 'firing.temperature >= 853.3', 'coating.lot = L7',
        'firing.temperature in 853.3 .. 860.1'; StoreError names what was wrong."""
        if not isinstance(condition, str) or not condition.strip() or "\x00" in condition:
            raise StoreError(f"condition must be non-empty text, got {condition!r}")
        condition = condition.strip()
        if m := _PARAM.match(condition):
            step, name, op, value = m["step"], m["name"], m["op"], m["value"]
            if op == "=":
                return cls(step=step, name=name, op=op, text=value)
            if op == "in":
                r = _RANGE.match(value)
                if r is None:
                    raise StoreError(f"condition {condition!r}: 'in' needs 'low .. high'")
                return cls(step=step, name=name, op=op, low=_number(condition, r["lo"]),
                           high=_number(condition, r["hi"]))
            number = _number(condition, value)
            return cls(step=step, name=name, op=op, **({"high": number} if op == "<"
                                                        else {"low": number}))
        if m := _MACHINE_AT.match(condition):
            return cls(step=m["step"], machine=m["machine"])
        if any(f" {op} " in f" {condition} " for op in ("<", ">=", "=", "in")):
            raise StoreError(f"condition {condition!r}: a parameter is written 'step.name < x', "
                             "'step.name >= x', 'step.name in a .. b' or 'step.name = value'")
        return cls(machine=condition)

    def clause(self) -> ColumnElement[bool]:
        """EXISTS (an event of the inspection's serial that meets this condition)."""
        return UpstreamMatch(self)


def _number(condition: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StoreError(f"condition {condition!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise StoreError(f"condition {condition!r}: {text!r} is not a finite number")
    return value


def _as_number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class UpstreamMatch(ColumnElement[bool]):
    """Dialect-specific SQL for one Upstream condition (JSON access differs)."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, condition: Upstream) -> None:
        self.condition = condition


def _bind(compiler: Any, value: Any, **kw: Any) -> str:
    return compiler.process(bindparam("up", value, unique=True), **kw)


def _render(element: UpstreamMatch, compiler: Any, pg: bool, **kw: Any) -> str:
    c = element.condition
    where = ["e.serial = inspections.serial"]
    if c.step is not None:
        where.append(f"e.step = {_bind(compiler, c.step, **kw)}")
    if c.machine is not None:
        where.append(f"e.machine = {_bind(compiler, c.machine, **kw)}")
    if c.name is None:
        return f"EXISTS (SELECT 1 FROM process_events e WHERE {' AND '.join(where)})"
    name = _bind(compiler, c.name, **kw)
    if pg:
        kind = f"jsonb_typeof(e.parameters -> {name})"
        num = f"(CASE WHEN {kind} = 'number' THEN (e.parameters ->> {name})::float8 END)"
        txt = (f"(CASE WHEN {kind} = 'string' THEN e.parameters ->> {name} WHEN {kind} = "
               f"'boolean' THEN initcap(e.parameters ->> {name}) END)")
        source = ""
    else:
        num = "(CASE WHEN j.type IN ('integer', 'real') THEN j.value END)"
        txt = ("(CASE j.type WHEN 'text' THEN j.value WHEN 'true' THEN 'True' WHEN 'false' THEN "
               "'False' END)")
        source = ", json_each(e.parameters) j"
        where.append(f"j.key = {name}")
    if c.op == "=":
        test = f"{txt} = {_bind(compiler, c.text, **kw)}"
        number = _as_number(c.text)
        if number is not None:
            test = f"({test} OR {num} = {_bind(compiler, number, **kw)})"
    else:
        parts = []
        if c.low is not None:
            parts.append(f"{num} >= {_bind(compiler, c.low, **kw)}")
        if c.high is not None:
            parts.append(f"{num} {'<=' if c.op == 'in' else '<'} {_bind(compiler, c.high, **kw)}")
        test = " AND ".join(parts)
    where.append(test)
    return f"EXISTS (SELECT 1 FROM process_events e{source} WHERE {' AND '.join(where)})"


@compiles(UpstreamMatch, "sqlite")
def _sqlite(element: UpstreamMatch, compiler: Any, **kw: Any) -> str:
    return _render(element, compiler, pg=False, **kw)


@compiles(UpstreamMatch, "postgresql")
def _postgresql(element: UpstreamMatch, compiler: Any, **kw: Any) -> str:
    return _render(element, compiler, pg=True, **kw)


def parse_conditions(conditions: list[str] | tuple[str, ...] | None) -> tuple[Upstream, ...]:
    """Upstream conditions of a filter (at most MAX_CONDITIONS); StoreError on a bad one."""
    found = tuple(Upstream.parse(c) for c in conditions or ())
    if len(found) > MAX_CONDITIONS:
        raise StoreError(f"at most {MAX_CONDITIONS} upstream conditions, got {len(found)}")
    return found

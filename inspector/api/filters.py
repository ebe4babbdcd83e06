"""Query parameters shared by the inspection list, its CSV export and /stats, as typed dependencies."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query

from inspector.api.timeutil import as_utc
from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.filters import InspectionFilter, ReviewState
from inspector.storage.upstream import MAX_CONDITIONS, Upstream, parse_conditions

# No control characters: they are never part of an id, and PostgreSQL refuses NUL in text.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"

Since = Annotated[datetime | None, Query(description="Inspected at or after (no zone = UTC).")]
Until = Annotated[datetime | None, Query(description="Inspected before (exclusive; no zone = UTC).")]
PartId = Annotated[str, Path(pattern=PRINTABLE, description="The part's id.")]
StationId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                        description="Only this station.")]


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Both bounds in UTC; 422 when one cannot be expressed in UTC or until is not after since."""
    try:
        start = as_utc(since) if since is not None else None
        end = as_utc(until) if until is not None else None
    except OverflowError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "since/until: out of the representable date range") from exc
    if start is not None and end is not None and end <= start:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    return start, end



def upstream_conditions(
    condition: Annotated[list[str] | None, Query(
        description="Parts whose process events meet this condition (repeat for several, "
        f"at most {MAX_CONDITIONS}): 'kiln-2', 'kiln-2 (firing)', 'firing.temperature < 851.5', "
        "'firing.temperature >= 851.5', 'firing.temperature in 850 .. 852', 'coating.lot = L7'. "
        "Each root-cause finding lists its own in `where`.")] = None,
    machine: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                         description="Parts that went through this machine.")] = None,
    step: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                      description="With `machine`: only at this step.")] = None,
    parameter: Annotated[str | None, Query(
        min_length=3, max_length=128, pattern=PRINTABLE,
        description="A process parameter 'step.name' (with `min`, `max` or `value`).")] = None,
    min_value: Annotated[float | None, Query(alias="min", description=(
        "With `parameter`: value at least this."))] = None,
    max_value: Annotated[float | None, Query(alias="max", description=(
        "With `parameter`: value below this."))] = None,
    value: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                       description="With `parameter`: this category value.")] = None,
) -> tuple[Upstream, ...]:
    """Upstream conditions of a request; 422 with the reason when one cannot be read."""
    try:
        found = list(parse_conditions([_printable(c) for c in condition or ()]))
        if machine is not None:
            found.append(Upstream(step=step, machine=machine))
        elif step is not None:
            raise StoreError("step is a filter only together with machine")
        if parameter is not None:
            found.append(_parameter(parameter, min_value, max_value, value))
        elif (min_value, max_value, value) != (None, None, None):
            raise StoreError("min, max and value filter a parameter: give parameter=step.name")
        if len(found) > MAX_CONDITIONS:
            raise StoreError(f"at most {MAX_CONDITIONS} upstream conditions, got {len(found)}")
    except StoreError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
    return tuple(found)


def _printable(condition: str) -> str:
    if len(condition) > 300 or any(ord(ch) < 32 or ord(ch) == 127 for ch in condition):
        raise StoreError(f"condition must be printable text of at most 300 characters, got "
                         f"{condition[:40]!r}")
    return condition


def _parameter(parameter: str, low: float | None, high: float | None,
               value: str | None) -> Upstream:
    step, _, name = parameter.partition(".")
    if not step or not name:
        raise StoreError(f"parameter must be 'step.name', got {parameter!r}")
    if value is not None and (low, high) != (None, None):
        raise StoreError("give value (a category) or min/max (a range), not both")
    if value is not None:
        return Upstream(step=step, name=name, op="=", text=value)
    if low is None and high is None:
        raise StoreError("parameter needs min, max or value")
    for bound in (low, high):
        if bound is not None and not math.isfinite(bound):
            raise StoreError(f"min and max must be finite numbers, got {bound}")
    return Upstream(step=step, name=name, op="range", low=low, high=high)


def inspection_filter(
    since: Since = None,
    until: Until = None,
    station_id: StationId = None,
    serial: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                        description="Only this serial.")] = None,
    verdict: Annotated[Verdict | None, Query(description="OK, REVIEW or NG.")] = None,
    label: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                       description="Only parts the model gave this class.")] = None,
    model_version: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                               description="Only parts scored by this model.")] = None,
    review: Annotated[ReviewState | None, Query(
        description="reviewed: a person labelled the part; unreviewed: nobody did yet.")] = None,
    upstream: Annotated[tuple[Upstream, ...], Depends(upstream_conditions)] = (),
) -> InspectionFilter:
    """The inspection filters of a request (every one optional; all must hold)."""
    start, end = time_range(since, until)
    return InspectionFilter(since=start, until=end, station_id=station_id, serial=serial,
                            verdict=verdict, label=label, model_version=model_version, review=review,
                            upstream=upstream)


FilterDep = Annotated[InspectionFilter, Depends(inspection_filter)]


def check_cursor(cursor: str | None, decode: Callable[[str], Any]) -> None:
    """A page cursor the store cannot read is the caller's mistake: 422 with the reason."""
    if cursor is None:
        return
    try:
        decode(cursor)
    except StoreError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc

"""Mapping between domain Inspections and database rows / journal JSON objects."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.errors import StoreError
from inspector.storage.tables import inspections

# Domain fields that have a column: a field added to Inspection before its migration is ignored.
_FIELDS = frozenset(f.name for f in dataclasses.fields(Inspection)) & set(inspections.c.keys())
_DATETIMES = ("captured_at", "inspected_at", "reviewed_at")
_FLOATS = ("defect_score", "anomaly_score", "threshold_ng", "threshold_review", "latency_ms")
# Columns the domain class may not carry (yet); they are stored when it does.
_OPTIONAL = ("anomaly_score", "reviewed_at")
_ENUMS = {"serial_source": SerialSource, "status": Status, "verdict": Verdict}
_REQUIRED_TEXT = ("part_id", "station_id", "serial")
_LIMITS = {
    "part_id": 64, "station_id": 64, "serial": 128, "label": 64,
    "model_version": 128, "image_path": 512, "heatmap_path": 512, "review_label": 64,
    "source_ref": 512, "signalled": 8, "part_ref": 128, "reviewed_by": 64,
}


class InvalidInspection(StoreError):
    """An inspection holds a value the schema cannot store (naive time, too long, not a number).

    Distinct from a database that cannot be written: retrying or journaling will not help.
    """


def to_row(ins: Inspection) -> dict[str, Any]:
    """Column values for one inspection; raises InvalidInspection on values it cannot hold."""
    _check_text(ins)
    row: dict[str, Any] = {
        name: getattr(ins, name) for name in _FIELDS if name not in _ENUMS and name != "scores"
    }
    for name in _OPTIONAL:
        row[name] = getattr(ins, name, None)
    for name, enum_type in _ENUMS.items():
        row[name] = _enum_value(ins, name, enum_type)
    row["scores"] = _scores(ins)
    for name in _FLOATS:
        row[name] = _float(ins.part_id, name, row[name])
    for name in _DATETIMES:
        _check_aware(ins.part_id, name, row[name])
    _check_lengths(row)
    return row


def from_row(row: Mapping[str, Any]) -> Inspection:
    """The domain object for one database row (enums by value)."""
    values = {name: row[name] for name in _FIELDS if name in row}
    for name, enum_type in _ENUMS.items():
        values[name] = enum_type(values[name])
    values["scores"] = dict(values.get("scores") or {})
    return Inspection(**values)


def to_json(ins: Inspection) -> dict[str, Any]:
    """A JSON-safe object for the journal: datetimes as ISO 8601 with offset."""
    row = to_row(ins)
    for name in _DATETIMES:
        if row[name] is not None:
            row[name] = row[name].astimezone(UTC).isoformat()
    return row


def from_json(obj: Mapping[str, Any]) -> Inspection:
    """Inverse of to_json; raises StoreError when the object is not a journaled inspection."""
    try:
        values = dict(obj)
        for name in _DATETIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return from_row(values)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInspection(f"journal entry is not an inspection: {exc!r}") from exc


def _enum_value(ins: Inspection, name: str, enum_type: type[enum.StrEnum]) -> str:
    value = getattr(ins, name)
    try:
        return enum_type(value).value
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum_type)
        raise InvalidInspection(
            f"part {ins.part_id}: {name} must be one of {allowed}, got {value!r}"
        ) from exc


def _scores(ins: Inspection) -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in dict(ins.scores or {}).items()}
    except (TypeError, ValueError) as exc:
        raise InvalidInspection(
            f"part {ins.part_id}: scores must map names to numbers: {exc}"
        ) from exc


def _float(part_id: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # numpy scalars become plain floats the drivers accept
    except (TypeError, ValueError) as exc:
        raise InvalidInspection(f"part {part_id}: {name} must be a number, got {value!r}") from exc
    # NaN is not valid JSON and PostgreSQL sorts it above everything: store "unknown" instead.
    return None if math.isnan(number) else number


def _check_aware(part_id: str, name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInspection(
            f"part {part_id}: {name} must be a timezone-aware datetime, got {value!r}"
        )


def _check_text(ins: Inspection) -> None:
    for name in _REQUIRED_TEXT:
        value = getattr(ins, name)
        if not isinstance(value, str) or not value:
            raise InvalidInspection(
                f"part {ins.part_id!r}: {name} must be a non-empty string, got {value!r}"
            )


def _check_lengths(row: Mapping[str, Any]) -> None:
    for name, limit in _LIMITS.items():
        value = row.get(name)
        if value is not None and len(value) > limit:
            raise InvalidInspection(
                f"part {row.get('part_id')}: {name} is {len(value)} characters, at most {limit}"
            )


def repair(ins: Inspection) -> Inspection:
    """A storable version of an inspection: text trimmed to its column, unusable values dropped.

    A bad value must never block the writer (retrying an invalid batch would stall every later
    row), so the part still gets its row, with the problem noted in `error`.
    """
    try:
        to_row(ins)
        return ins
    except InvalidInspection as exc:
        problem = str(exc)
    changes: dict[str, Any] = {}
    for name, limit in _LIMITS.items():
        value = getattr(ins, name, None)
        if isinstance(value, str) and len(value) > limit:
            changes[name] = value[:limit]
    for name in _REQUIRED_TEXT:
        value = changes.get(name, getattr(ins, name))
        if not isinstance(value, str) or not value:
            changes[name] = "unknown"
    for name in _DATETIMES:
        value = getattr(ins, name, None)
        if isinstance(value, datetime) and value.tzinfo is None:
            changes[name] = value.replace(tzinfo=UTC)
    for name in _FLOATS:
        if hasattr(ins, name):
            try:
                _float(ins.part_id, name, getattr(ins, name))
            except InvalidInspection:
                changes[name] = None
    note = f"record repaired before storing: {problem}"
    changes["error"] = f"{ins.error}; {note}" if ins.error else note
    fixed = dataclasses.replace(ins, **changes)
    to_row(fixed)  # still invalid here means a bug in this function: let it surface
    return fixed

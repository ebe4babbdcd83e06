"""Stream a CSV file of process events into the EventStore in chunks."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inspector.errors import TraceError
from inspector.storage.events import EventStore
from inspector.trace.ingest import EventError, IngestResult, store_valid, validate_event
from inspector.trace.missing import is_missing

logger = logging.getLogger(__name__)

CSV_FORMAT = """\
A header row is required (UTF-8; a BOM is fine). Two forms, which may be combined:

  serial,machine,step,timestamp,<parameter columns...>
  SN-1,kiln-2,firing,2024-05-01T08:00:00Z,871.5,A

  serial,machine,step,timestamp,parameters
  SN-1,kiln-2,firing,2024-05-01T08:00:00+02:00,"{""temp"": 871.5, ""zone"": ""A""}"

timestamp is ISO 8601 with a zone (Z or +hh:mm); it is stored in UTC. Every column besides
the four fixed ones (and `parameters`, a JSON object) is a parameter: a cell that parses as
a finite number is stored as a number, other text as a string; an empty cell and the usual
markers of a missing value (NaN, n/a, NA, null, #N/A, ...) are missing values, left out.
A name given twice in one row is an error for that row. Each bad row is reported with its
line number and nothing of it is stored; the good rows are. Importing the same file again
stores nothing new (events are unique on serial, machine, step, timestamp); a row whose
parameters changed replaces the stored event, which is kept as a revision.
"""

FIXED = ("serial", "machine", "step", "timestamp")
PARAMS_COLUMN = "parameters"
CHUNK_ROWS = 5_000
_INT = re.compile(r"[+-]?\d+")


def parse_cell(text: str) -> int | float | str | None:
    """A CSV cell as a parameter value: int, finite float, text, or None when missing."""
    text = text.strip()
    if is_missing(text):
        return None
    if _INT.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def row_to_item(row: dict[str, Any], param_columns: list[str]) -> dict[str, Any]:
    """One CSV row as an event object for validate_event; raises TraceError on a bad row."""
    item: dict[str, Any] = {name: row[name] for name in FIXED}
    params: dict[str, Any] = {}
    raw = (row.get(PARAMS_COLUMN) or "").strip()
    if raw:
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TraceError(f"parameters: not a JSON object: {exc.msg}") from exc
        if not isinstance(params, dict):
            raise TraceError("parameters: must be a JSON object")
    for name in param_columns:
        value = parse_cell(row[name] or "")
        if value is None:
            continue
        if name in params:
            raise TraceError(f"parameter {name!r} is given twice (column and JSON)")
        params[name] = value
    item["parameters"] = params
    return item


def import_csv(store: EventStore, path: Path, chunk_rows: int = CHUNK_ROWS) -> IngestResult:
    """Import a CSV file; each chunk is one transaction, so memory stays flat on big files."""
    total = IngestResult()
    for good, bad, received in _chunks(path, chunk_rows):
        total = total + store_valid(store, good, bad, received)
    logger.info(
        "imported %s: %d rows, %d new, %d revised, %d duplicates, %d rejected",
        path, total.received, total.stored, total.revised, total.duplicates, total.rejected,
    )
    return total


def _chunks(path: Path, chunk_rows: int) -> Iterator[tuple[list, list[EventError], int]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        param_columns = _check_header(path, reader.fieldnames)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or ()]
        good, bad, received = [], [], 0
        try:
            for row in reader:
                received += 1
                _add_row(row, reader.line_num, param_columns, good, bad)
                if received == chunk_rows:
                    yield good, bad, received
                    good, bad, received = [], [], 0
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TraceError(f"{path} line {reader.line_num}: unreadable CSV: {exc}") from exc
        if received:
            yield good, bad, received


def _add_row(row: dict, line: int, param_columns: list[str], good: list, bad: list) -> None:
    if None in row:  # more cells than header columns
        bad.append(EventError(line, f"line {line}: more cells than header columns"))
        return
    try:
        good.append(validate_event(row_to_item(row, param_columns)))
    except TraceError as exc:
        bad.append(EventError(line, f"line {line}: {exc}"))


def _check_header(path: Path, fieldnames: Any) -> list[str]:
    if not fieldnames:
        raise TraceError(f"{path}: empty file; expected a header {','.join(FIXED)},...")
    names = [name.strip() for name in fieldnames]
    missing = [name for name in FIXED if name not in names]
    if missing:
        raise TraceError(f"{path}: header lacks column(s) {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise TraceError(f"{path}: header repeats a column name")
    return [name for name in names if name not in FIXED and name != PARAMS_COLUMN]

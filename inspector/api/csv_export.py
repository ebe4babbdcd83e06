"""Inspections as CSV text, one chunk per store page, so an export of any size has flat memory."""

from __future__ import annotations

import csv
import enum
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from inspector.domain import Inspection
from inspector.errors import StoreError

logger = logging.getLogger(__name__)

COLUMNS = (
    "part_id", "station_id", "serial", "serial_source", "captured_at", "inspected_at", "status",
    "verdict", "label", "defect_score", "anomaly_score", "scores", "model_version", "threshold_ng",
    "threshold_review", "latency_ms", "error", "review_label", "reviewed_at", "reviewed_by",
    "review_note", "image_path", "heatmap_path",
)
# A spreadsheet runs a cell starting with these as a formula (a serial is read from the part).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_chunks(pages: Iterable[list[Inspection]]) -> Iterator[str]:
    """The header, then one chunk of CSV lines per page of inspections."""
    yield _lines([COLUMNS])
    try:
        for page in pages:
            yield _lines([_cells(ins) for ins in page])
    except StoreError as exc:  # the status line is sent: the client sees a cut-off file
        logger.error("CSV export stopped part way: %s", exc)
        raise


def _lines(rows: Iterable[Iterable[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def _cells(ins: Inspection) -> list[str]:
    return [_cell(getattr(ins, name, None)) for name in COLUMNS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    if isinstance(value, float | int):
        return repr(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text

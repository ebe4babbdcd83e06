"""CSV import: parameter columns, a JSON parameters column, bad rows, chunks, re-import."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.errors import TraceError
from inspector.storage.events import EventStore
from inspector.trace.csv_import import import_csv, parse_cell


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_parameter_columns_are_typed(tmp_path: Path, events: EventStore) -> None:
    csv = _write(tmp_path / "e.csv", "\ufeffserial,machine,step,timestamp,temp,zone,cycles\n"
                 "SN-1,kiln-2,firing,2024-05-01T08:00:00Z,871.5,A,3\n"
                 "SN-2,kiln-1,firing,2024-05-01T08:01:00+01:00,,B,4\n")
    result = import_csv(events, csv)
    assert (result.received, result.stored, result.rejected) == (2, 2, 0)
    assert events.for_serial("SN-1")[0].parameters == {"temp": 871.5, "zone": "A", "cycles": 3}
    assert events.for_serial("SN-2")[0].parameters == {"zone": "B", "cycles": 4}


def test_json_parameters_column(tmp_path: Path, events: EventStore) -> None:
    csv = _write(tmp_path / "e.csv", "serial,machine,step,timestamp,parameters\n"
                 'SN-1,press-1,pressing,2024-05-01T08:00:00Z,"{""force"": 12.5, ""die"": ""D7""}"\n'
                 "SN-2,press-1,pressing,2024-05-01T08:00:00Z,\n")
    assert import_csv(events, csv).stored == 2
    assert events.for_serial("SN-1")[0].parameters == {"force": 12.5, "die": "D7"}
    assert events.for_serial("SN-2")[0].parameters == {}


def test_bad_rows_are_reported_by_line_and_good_rows_stored(
    tmp_path: Path, events: EventStore
) -> None:
    csv = _write(tmp_path / "e.csv", "serial,machine,step,timestamp,temp\n"
                 "SN-1,kiln-2,firing,2024-05-01T08:00:00Z,870\n"
                 "SN-2,kiln-2,firing,2024-05-01 08:00:00,870\n"
                 "SN-3,kiln-2,firing,2024-05-01T08:00:00Z,870,extra\n"
                 ",kiln-2,firing,2024-05-01T08:00:00Z,870\n"
                 "SN-5,kiln-2,firing,2024-05-01T08:00:00Z,870\n")
    result = import_csv(events, csv, chunk_rows=2)  # chunks of two rows
    assert (result.received, result.stored, result.rejected) == (5, 2, 3)
    assert [(e.index, e.message.split(":")[0]) for e in result.errors] == [
        (3, "line 3"), (4, "line 4"), (5, "line 5")]
    assert "no time zone" in result.errors[0].message
    assert "more cells than header" in result.errors[1].message
    assert import_csv(events, csv).duplicates == 2  # re-import stores nothing new


def test_bad_header_or_file_is_a_clear_error(tmp_path: Path, events: EventStore) -> None:
    with pytest.raises(TraceError, match="lacks column"):
        import_csv(events, _write(tmp_path / "a.csv", "serial,machine,time\n"))
    with pytest.raises(TraceError, match="empty file"):
        import_csv(events, _write(tmp_path / "b.csv", ""))
    with pytest.raises(TraceError, match="cannot read"):
        import_csv(events, tmp_path / "missing.csv")


def test_parse_cell() -> None:
    assert parse_cell(" 12 ") == 12
    assert parse_cell("1e3") == 1000.0
    assert parse_cell("nan") is None and parse_cell(" N/A ") is None and parse_cell("#N/A") is None
    assert parse_cell("A7") == "A7"
    assert parse_cell("") is None

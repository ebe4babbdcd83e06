"""The trace typer commands, registered on a local app as inspector.cli does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from inspector.commands.trace import genealogy, import_events, root_cause
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.simulate import LineSpec, simulate, to_inspection

app = typer.Typer()
app.command("import-events")(import_events)
app.command("genealogy")(genealogy)
app.command("root-cause")(root_cause)
runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    return tmp_path / "var"


def test_import_events_reports_and_exits_1_on_bad_rows(tmp_path: Path, data_dir: Path) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text("serial,machine,step,timestamp,temp\n"
                   "SN-1,kiln-2,firing,2024-05-01T08:00:00Z,871\n"
                   "SN-2,kiln-2,firing,not-a-time,870\n", encoding="utf-8")
    args = ["import-events", str(csv), "--data-dir", str(data_dir), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert (out["stored"], out["rejected"]) == (1, 1)
    assert out["errors"][0]["message"].startswith("line 3: timestamp:")
    again = runner.invoke(app, ["import-events", str(csv), "--data-dir", str(data_dir)])
    assert "0 stored, 1 already known, 1 rejected" in again.stdout


def test_import_events_json_file_and_missing_file(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"serial": "SN-1", "machine": "m", "step": "s",
                                 "timestamp": "2024-05-01T08:00:00Z"}]), encoding="utf-8")
    ok = runner.invoke(app, ["import-events", str(path), "--data-dir", str(data_dir)])
    assert ok.exit_code == 0 and "1 stored" in ok.stdout
    missing = runner.invoke(app, ["import-events", str(tmp_path / "no.csv"),
                                  "--data-dir", str(data_dir)])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_genealogy_and_root_cause(data_dir: Path) -> None:
    parts = list(simulate(LineSpec(parts=3000, seed=2)))
    store = InspectionStore.open(f"sqlite:///{data_dir / 'inspector.db'}")
    store.write([to_inspection(p) for p in parts])
    EventStore(store.engine).insert([e for p in parts for e in p.events])
    store.close()

    shown = runner.invoke(app, ["genealogy", parts[5].serial, "--data-dir", str(data_dir),
                                "--json"])
    assert shown.exit_code == 0
    assert len(json.loads(shown.stdout)["events"]) == 4
    text = runner.invoke(app, ["genealogy", parts[5].serial, "--data-dir", str(data_dir)])
    assert "kiln-" in text.stdout and "inspection" in text.stdout
    unknown = runner.invoke(app, ["genealogy", "NOPE", "--data-dir", str(data_dir)])
    assert unknown.exit_code == 1 and "unknown" in unknown.stderr

    window = ["--since", "2024-05-01T00:00", "--until", "2024-05-02T00:00Z"]
    report = runner.invoke(app, ["root-cause", *window, "--data-dir", str(data_dir), "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert data["parts"] == 3000 and data["ranked"][0]["name"] == "firing.temperature"
    table = runner.invoke(app, ["root-cause", *window, "--data-dir", str(data_dir)])
    assert "firing.temperature" in table.stdout and " *" in table.stdout
    bad = runner.invoke(app, ["root-cause", "--since", "May 1st", "--data-dir", str(data_dir)])
    assert bad.exit_code == 2 and "not ISO 8601" in bad.stderr


def test_root_cause_says_clearly_what_is_wrong(data_dir: Path) -> None:
    parts = list(simulate(LineSpec(parts=300, seed=4)))
    store = InspectionStore.open(f"sqlite:///{data_dir / 'inspector.db'}")
    store.write([to_inspection(p) for p in parts])
    store.close()
    where = ["--data-dir", str(data_dir)]
    bad = runner.invoke(app, ["root-cause", "--alpha", "0.7", *where])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --alpha: Input should be less")
    assert "Traceback" not in bad.output and "validation error" not in bad.stderr
    empty = runner.invoke(app, ["root-cause", "--since", "2020-01-01", "--until", "2020-01-02",
                                *where])
    assert empty.exit_code == 2 and "found 0 parts; the history spans 2024-05-01" in empty.stderr
    window = ["--since", "2024-05-01T00:00", "--until", "2024-05-02T00:00Z"]
    unknown = runner.invoke(app, ["root-cause", *window, "--defect-class", "Crack", *where])
    assert unknown.exit_code == 2 and "did you mean 'crack'?" in unknown.stderr

"""check-config catches what would stop a station or lose its rows: database URL, model bundle."""

import shutil
from pathlib import Path

import pytest
import typer

from inspector import machine
from inspector.commands.preflight import bundle_problem, database_problem
from inspector.commands.station import check_config

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.mark.parametrize(("url", "expected"), [
    ("postgress://user@host/db", "unknown database 'postgress' (did you mean postgresql?)"),
    ("mysql://root@localhost/x", "unknown database 'mysql'"),
    ("postgresql+nosuchdriver://u@h/db", "nosuchdriver driver is not installed"),
    ("not a url", "invalid database URL"),
])
def test_database_urls_the_station_could_never_open_are_errors(url, expected):
    problem = database_problem(url)
    assert problem is not None and problem.startswith("storage.url: ") and expected in problem


def test_good_database_urls_pass(tmp_path):
    assert database_problem(f"sqlite:///{tmp_path}/new/inspector.db") is None
    assert database_problem("postgresql+psycopg://postgres@127.0.0.1:5432/test") is None


def test_bundles_that_cannot_load_are_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "int8_kernel", lambda: "vnni")  # a CPU its INT8 graphs were judged on
    assert "card.json is missing" in bundle_problem(tmp_path / "none")
    copy = tmp_path / "mt"
    shutil.copytree(WEIGHTS / "magnetic-tile", copy)
    assert bundle_problem(copy) is None
    (copy / "anomaly.int8.onnx").unlink()  # the gate's graph the card names
    assert bundle_problem(copy) == f"model.bundle: {copy} lacks anomaly.int8.onnx"


def test_check_config_refuses_a_mistyped_database_url(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"source: {{type: folder, path: {tmp_path}}}\n"
                    f"model: {{bundle: {WEIGHTS / 'magnetic-tile'}}}\n"
                    "storage: {url: 'postgress://inspector@db/plant'}\n")
    with pytest.raises(typer.Exit) as info:
        check_config(path)
    assert info.value.exit_code == 1
    assert "storage.url: unknown database 'postgress'" in capsys.readouterr().err


def test_check_config_warns_where_the_int8_graphs_do_not_run_on_this_cpu(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.yaml"
    bundle = WEIGHTS / "magnetic-tile"
    path.write_text(f"source: {{type: folder, path: {tmp_path}}}\nmodel: {{bundle: {bundle}}}\n"
                    f"storage: {{url: 'sqlite:///{tmp_path}/inspector.db'}}\n")
    monkeypatch.setattr(machine, "int8_kernel", lambda: "avx512")  # never judged on one
    check_config(path)  # a warning, not an error: the float graphs run, with the same verdicts
    err = capsys.readouterr().err
    for what in ("classifier", "gate"):
        assert (f"warning: model.bundle: model bundle {bundle}: the {what}'s INT8 graph was judged only "
                "on CPUs of INT8 kernel family avx2, vnni, not this one's (avx512): its float graph runs. "
                f"To judge it on this CPU: inspector quantize {bundle} DATASET --judge") in err
    monkeypatch.setattr(machine, "int8_kernel", lambda: "avx2")
    check_config(path)
    assert "INT8" not in capsys.readouterr().err

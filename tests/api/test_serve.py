"""`inspector serve` for real (uvicorn in a subprocess), through the ingestion benchmark script."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from inspector.cli import app
from tests.scripts import load_script


def test_the_bench_posts_batches_to_a_real_server(capsys):
    bench = load_script("bench_ingest_api")
    result = bench.main(bench.get_args_parser().parse_args(["--events", "2000", "--batch", "500",
                                                            "--warmup", "1"]))
    assert result["stored"] == 2000 and result["repost_stored"] == 0
    assert result["events_per_s"] > 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result


def test_serve_with_a_bad_database_url_is_a_clear_error():
    result = CliRunner().invoke(app, ["serve", "--db", "mysql://x@localhost/db"])
    assert result.exit_code == 1
    assert "error: unsupported database 'mysql'" in result.output


def test_serve_with_an_invalid_config_prints_each_error(tmp_path):
    config = tmp_path / "station.yaml"
    config.write_text("source: {type: folder, path: x}\ntrace: {mqtt: {port: 0}}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "trace.mqtt.port: Input should be greater than or equal to 1" in result.output

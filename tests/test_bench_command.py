"""`inspector bench`: the figures a user reads on their own line PC (no timing assertions)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from inspector.bench.frames import BenchInputError, replay_order
from inspector.cli import app
from inspector.machine import cpu_model, int8_kernel
from inspector.pipeline.settings import StationSettings

runner = CliRunner()


def test_bench_json_is_one_line_with_every_figure(tiny_bundle, sample_dataset, tmp_path):
    result = runner.invoke(app, ["bench", str(tiny_bundle), "--images", str(sample_dataset / "images"),
                                 "--frames", "12", "--seconds", "1", "--fps", "10", "--rounds", "2",
                                 "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert r["cpu"] == cpu_model() and r["fps"] == 10 and r["rounds"] == 2
    assert r["int8_kernel"] == int8_kernel() and r["graphs"] == {"classifier": "float"}  # not quantised
    assert r["batch_max"] == StationSettings().batch_max  # the station's own default
    assert r["inference_threads"] == StationSettings().inference_threads == 2
    assert r["rows"] == 12 and r["station_parts_per_s"] > 0 and r["bare_parts_per_s"] > 0
    assert r["headroom"] == pytest.approx(r["station_parts_per_s"] / 10, abs=0.01)
    assert r["bare_latency_ms_p50"] <= r["bare_latency_ms_p99"]
    # every paced part has its row; a row that was not judged (too few frames) has no latency
    assert r["paced_rows"] == r["paced_parts"] > 0 and "paced_latency_ms_p99" in r
    assert set(r["stage_ms"]) >= {"decode", "serial", "crop", "quality", "predict", "preprocess",
                                  "classifier", "archive_encode"}
    # (the tiny bundle's threads may end between two polls: which ones are counted varies)
    assert all(v >= 0 for v in r["cpu_ms_per_part_by_thread"].values())


def test_bench_defaults_to_the_shipped_bundle_and_sample():
    result = runner.invoke(app, ["bench", "--frames", "4", "--seconds", "0"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for word in ("CPU", "parts/s", "latency", "headroom", "over 30 fps", "magnetic-tile@", "per part"):
        assert word in out
    assert "gate" in out  # the default bundle carries a gate: its pass is timed too
    assert f"this CPU's INT8 kernel family: {int8_kernel()}" in out


def test_bench_runs_the_inference_threads_asked_for(tiny_bundle, sample_dataset, monkeypatch):
    from inspector.bench import report

    loaded, bare = [], []
    real_load, real_bare = report.load_classifier, report.bench_bare
    monkeypatch.setattr(report, "load_classifier", lambda *a, **k: loaded.append(k) or real_load(*a, **k))
    monkeypatch.setattr(report, "bench_bare", lambda *a: bare.append(a[3]) or real_bare(*a))
    for threads, session in ((1, 2), (3, 1)):
        result = runner.invoke(app, ["bench", str(tiny_bundle), "--images", str(sample_dataset / "images"),
                                     "--frames", "6", "--seconds", "0", "--inference-threads",
                                     str(threads), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["inference_threads"] == threads
        # one part at a time on two ONNX Runtime threads, or parts side by side on one each
        assert loaded[-1]["threads"] == session and bare[-1] == threads
    for option in ("--inference-threads", "--batch-max"):
        refused = runner.invoke(app, ["bench", option, "0"])
        assert refused.exit_code == 2 and option in refused.output


def test_bench_refuses_a_folder_without_images(tiny_bundle, tmp_path):
    result = runner.invoke(app, ["bench", str(tiny_bundle), "--images", str(tmp_path), "--seconds", "0"])
    assert result.exit_code == 2 and "no images" in result.output


def test_bench_refuses_a_camera_without_frames():
    result = runner.invoke(app, ["bench", "--fps", "0"])
    assert result.exit_code == 2 and "--fps" in result.output


def test_a_defect_share_interleaves_defects_and_needs_both_kinds(tmp_path):
    good, bad = tmp_path / "free" / "a.png", tmp_path / "crack" / "b.png"
    order = replay_order([good, bad], 10, 0.2)
    assert order.count(bad) == 2 and order[4] == bad
    try:
        replay_order([good], 10, 0.2)
    except BenchInputError as exc:
        assert "defect share" in str(exc)
    else:
        raise AssertionError("a defect share without defect images must be refused")

"""Smoke runs of the station benchmarks with the tiny bundle (no timing assertions)."""

from __future__ import annotations

import json

import cv2

from tests.scripts import load_script


def test_bench_station_runs_all_frames_through_both_paths(tiny_bundle, sample_dataset, tmp_path,
                                                          capsys):
    bench = load_script("bench_station")
    args = bench.get_args_parser().parse_args([
        "--model", str(tiny_bundle), "--frames", "20", "--images",
        str(sample_dataset / "images"), "--work-dir", str(tmp_path),
    ])
    result = bench.main(args)
    assert result["rows"] == 20 and result["dropped_frames"] == 0
    assert result["bare_fps"] > 0 and result["station_fps"] > 0 and result["ratio"] > 0
    assert capsys.readouterr().out.count("\n") == 1


def test_bench_station_can_time_the_classifier_one_part_at_a_time(tiny_bundle, sample_dataset,
                                                                    tmp_path):
    bench = load_script("bench_station")
    args = bench.get_args_parser().parse_args([
        "--model", str(tiny_bundle), "--frames", "8", "--images", str(sample_dataset / "images"),
        "--work-dir", str(tmp_path), "--inference-threads", "3", "--one-by-one", "--rounds", "2",
    ])
    result = bench.main(args)
    assert result["rows"] == 8 and result["inference_threads"] == 3
    assert result["bare_one_by_one_fps"] > 0 and result["ratio_one_by_one"] > 0


def test_bench_inference_threads_compares_every_count(tiny_bundle, sample_dataset, capsys):
    bench = load_script("bench_inference_threads")
    args = bench.get_args_parser().parse_args([
        "--model", str(tiny_bundle), "--frames", "8", "--images", str(sample_dataset / "images"),
        "--counts", "1,2,3", "--rounds", "2",
    ])
    result = bench.main(args)
    assert set(result["station_parts_per_s"]) == set(result["bare_parts_per_s"]) == {1, 2, 3}
    assert result["station_over_first"][1] == 1.0 and result["frames"] == 8
    assert json.loads(capsys.readouterr().out)["bench"] == "inference_threads"


def test_bench_live_pace_accounts_for_every_part(tiny_bundle, sample_dataset, tmp_path):
    bench = load_script("bench_live_pace")
    args = bench.get_args_parser().parse_args([
        "--model", str(tiny_bundle), "--seconds", "1", "--fps", "10", "--probe-frames", "5",
        "--images", str(sample_dataset / "images"), "--work-dir", str(tmp_path),
    ])
    result = bench.main(args)
    assert result["parts"] > 0 and result["missing_rows"] == 0
    assert result["headroom"] > 0


def test_bench_api_loads_the_running_station_and_loses_no_part(tiny_bundle, sample_dataset, capsys):
    bench = load_script("bench_api")
    assert bench.main(["--model", str(tiny_bundle), "--images", str(sample_dataset / "images"),
                       "--seconds", "2", "--rounds", "1", "--clients", "3", "--think-s", "0.1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["parts_lost"] == 0 and result["rows"] == result["triggered"] > 0
    assert result["errors"] == 0 and all(v["n"] > 0 for v in result["api_ms"].values())
    assert result["station_parts_per_s"]["no_load"] > 0


def test_bench_live_view_polls_like_the_live_page(tiny_bundle, sample_dataset, capsys):
    bench = load_script("bench_live_view")
    assert bench.main(["--model", str(tiny_bundle), "--images", str(sample_dataset / "images"),
                       "--seconds", "2", "--rounds", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bench"] == "live_view" and result["clients"] == 1 and result["errors"] == 0
    assert result["api_ms"]["frame"]["n"] >= 1 and result["parts_lost"] == 0


def test_the_bare_classifier_called_side_by_side_judges_every_image(monkeypatch, tmp_path):
    import threading

    from inspector.bench.runs import bench_bare, decoded

    from .fakes import FakeClassifier, gray

    paths = []
    for i in range(9):
        path = tmp_path / f"p{i}.png"
        cv2.imwrite(str(path), gray(30 + i))
        paths.append(path)
    seen, threads = [], set()

    class Recording(FakeClassifier):
        def predict(self, images, heatmaps=True):
            threads.add(threading.current_thread().name)
            seen.extend(round(float(im.mean())) for im in images)
            return super().predict(images, heatmaps)

    assert bench_bare(Recording(delay_s=0.01), decoded(paths), 2, side_by_side=3) > 0
    assert sorted(seen[2:]) == list(range(30, 39)) and len(threads) == 3  # after the warm-up's 2

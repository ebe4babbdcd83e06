"""Smoke runs of the trace scripts at tiny sizes (no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scripts import load_script


def _run(name: str, argv: list[str], capsys) -> dict:
    module = load_script(name)
    result = module.main(module.get_args_parser().parse_args(argv))
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == json.loads(json.dumps(result))
    return result


def test_simulate_line_writes_a_store_and_images(tmp_path: Path, capsys) -> None:
    result = _run("simulate_line", ["--parts", "300", "--data-dir", str(tmp_path), "--images",
                                    str(tmp_path / "img"), "--image-count", "3", "--analyze"],
                  capsys)
    assert result["parts"] == 300 and result["events"] == 1200 and result["images"] == 3
    assert (tmp_path / "img" / "manifest.csv").read_text().startswith("image,serial")


def test_bench_rootcause_small(capsys) -> None:
    result = _run("bench_rootcause", ["--parts", "1500", "--seeds", "1"], capsys)
    assert result["ranked_first_hits"] in (0, 1) and result["false_significant_seeds"] in (0, 1)


def test_bench_serials_small(capsys) -> None:
    result = _run("bench_serials", ["--images", "12"], capsys)
    assert result["images"] == 12 and result["full_frame"]["wrong_reads"] == 0


def test_bench_trace_scale_small(tmp_path: Path, capsys) -> None:
    result = _run("bench_trace_scale", ["--inspections", "600", "--small", "200", "--lookups",
                                        "20", "--ingest", "400", "--workdir", str(tmp_path)],
                  capsys)
    assert result["events"] == 3000 and result["root_cause_day_parts"] > 0
    assert result["bulk_api_events_per_s"] > 0 and result["csv_events_per_s"] > 0


def test_bench_rootcause_scale_small(tmp_path: Path, capsys) -> None:
    # 864 parts a day: the generator draws with SQL random(), and at 86 parts a day a day
    # without one crack (then an unknown class in that window) came up in about 1 run in 10
    result = _run("bench_rootcause_scale", ["--parts", "3000", "--cycle-s", "100", "--db",
                                            "sqlite", "--repeats", "1", "--workdir",
                                            str(tmp_path)], capsys)
    sqlite = result["sqlite"]
    assert sqlite["events_stored"] == 15_000
    assert "error" not in sqlite["1d"] and "error" not in sqlite["30d"], sqlite
    assert sqlite["1d"]["parts"] == 864 and sqlite["30d"]["parts"] == 1338
    assert sqlite["30d"]["peak_rss_mb"] >= sqlite["30d"]["rss_after_imports_mb"] > 0
    assert not (tmp_path / "bench_rc.db").exists()

"""Smoke run of scripts/bench_dashboard.py on a small database (no timing assertions)."""

from __future__ import annotations

import json

from tests.dashboard.conftest import _chromium
from tests.scripts import load_script


def test_bench_dashboard_times_every_page(tmp_path, capsys):
    _chromium()  # skips with its reason when the browser is missing
    bench = load_script("bench_dashboard")
    assert bench.main(["--rows", "2000", "--loads", "1", "--db", str(tmp_path / "i.db")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["pages"]) == set(bench.PAGES)
    assert all(page["api_calls"] > 0 and page["median_ms"] > 0 for page in result["pages"].values())

"""Smoke run of scripts/bench_timeline.py at a tiny size (no timing assertions)."""

from __future__ import annotations

import json

from tests.scripts import load_script


def test_bench_timeline_small(capsys) -> None:
    module = load_script("bench_timeline")
    result = module.main(module.get_args_parser().parse_args(
        ["--seeds", "2", "--parts", "3000", "--factor", "4", "--stable", "2000", "--ramp", "2000"]))
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert result["change_points"]["planted_top"].endswith("/2")
    assert result["alerts"]["doubled_at_part"] == 3000
    assert 0 < result["change_points"]["power"] <= 1

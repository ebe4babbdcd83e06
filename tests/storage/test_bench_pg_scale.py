"""scripts/bench_pg_scale.py end to end at a tiny size on the real PostgreSQL (its own database)."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.pg import PG_ENV
from tests.scripts import load_script


def test_the_scale_bench_measures_both_sizes_and_drops_its_database() -> None:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    bench = load_script("bench_pg_scale")
    database = f"bench_scale_test_{uuid.uuid4().hex[:8]}"
    args = bench.get_args_parser().parse_args([
        "--url", url, "--database", database, "--small", "2000", "--large", "40000",
        "--per-day", "1000", "--reps", "1", "--lookups", "5"])

    result = bench.main(args)

    assert result["small"]["inspections"] == 2000 and result["large"]["inspections"] == 40000
    # the queried day holds the same parts in both histories; 40 days always span more months
    assert result["small"]["root_cause"]["parts"] == result["large"]["root_cause"]["parts"] == 1000
    assert result["large"]["partitions"] > result["small"]["partitions"]
    assert result["serial_lookup_ratio"] > 0 and result["root_cause_ratio"] > 0
    admin = create_engine(url)
    with admin.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :d"),
                            {"d": database}).scalar_one()
    admin.dispose()
    assert left == 0

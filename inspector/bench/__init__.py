"""Benchmarks a user runs on their own line PC (`inspector bench`) and the scripts/bench_*.py share."""

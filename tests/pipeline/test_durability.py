"""Kill the station with SIGKILL mid-run and restart it: nothing reported stored is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from inspector.storage.engine import sqlite_url
from inspector.storage.journal import Journal
from inspector.storage.store import InspectionStore

SCRIPT = Path(__file__).with_name("station_proc.py")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _read_until_killed(proc: subprocess.Popen, committed: int, journaled: int) -> dict[str, set]:
    seen: dict[str, set] = {"committed": set(), "journaled": set()}
    assert proc.stdout is not None
    for line in proc.stdout:
        event, _, part_id = line.strip().partition(" ")
        seen[event].add(part_id)
        if len(seen["committed"]) >= committed and len(seen["journaled"]) >= journaled:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    return seen


def _all_part_ids(store: InspectionStore) -> list[str]:
    ids, cursor = [], None
    while True:
        page, cursor = store.list(limit=1000, cursor=cursor)
        ids += [r.part_id for r in page]
        if cursor is None:
            return ids


def test_sigkill_mid_run_then_restart_loses_nothing_and_duplicates_nothing(
    image_folder, tmp_path
):
    folder = image_folder(400)
    data = tmp_path / "data"
    # First run: the database "goes away" after 3 batches, so rows go to the journal too.
    proc = _start(str(folder), str(data), "--down-after", "3")
    seen = _read_until_killed(proc, committed=8, journaled=12)
    assert proc.returncode == -signal.SIGKILL
    store = InspectionStore.open(sqlite_url(data))
    try:
        assert all(store.get(pid) is not None for pid in seen["committed"])
        assert Journal(data / "journal.jsonl").pending() >= len(seen["journaled"])
    finally:
        store.close()

    # Restart: the journal is replayed on start; a few more parts run through.
    restart = _start(str(folder), str(data), "--max-parts", "5")
    out, _ = restart.communicate(timeout=60)
    assert restart.returncode == 0
    store = InspectionStore.open(sqlite_url(data))
    try:
        ids = _all_part_ids(store)
        assert len(ids) == len(set(ids))  # no duplicates
        stored = set(ids)
        assert seen["committed"] <= stored and seen["journaled"] <= stored
        assert len(out.split("\n")) - 1 == 5  # the restart's own parts
        assert Journal(data / "journal.jsonl").pending() == 0
    finally:
        store.close()

"""SIGKILL at random moments and SIGTERM with a long backlog: one row per file, announced = stored."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from inspector.pipeline.station import SIGNALS_FILE
from inspector.storage.journal import Journal
from tests.rows import stored_rows

SCRIPT = Path(__file__).with_name("station_proc.py")


def _start(folder: Path, data: Path, announced: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(folder), str(data), str(announced), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def _durable_ids(data: Path) -> set[str]:
    """Parts whose row is in the database, the journal or the signal journal right now."""
    journals = [data / "journal.jsonl", data / SIGNALS_FILE, data / (SIGNALS_FILE + ".left")]
    ids = {r.part_id for r in stored_rows(data)}
    return ids | {r.part_id for j in journals for r in Journal(j).rows()}


def _announced(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.split()[1] for line in path.read_text().splitlines() if len(line.split()) == 2}


def test_sigkill_at_ten_random_moments_leaves_one_row_per_file_and_no_unstored_announcement(
        image_folder, tmp_path):
    folder = image_folder(300)
    data, announced = tmp_path / "data", tmp_path / "announced.txt"
    rng = random.Random(26)
    for _ in range(10):
        proc = _start(folder, data, announced)
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Whatever the line heard of has a durable row at the moment of the kill.
        assert _announced(announced) <= _durable_ids(data)
    final = _start(folder, data, announced)
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0, out
    rows = stored_rows(data)
    refs = [r.source_ref for r in rows]
    assert sorted(refs) == sorted(f"folder:images/{p.name}" for p in folder.iterdir())
    assert len(refs) == len(set(refs))  # exactly one row per file, across 11 runs
    assert _announced(announced) <= {r.part_id for r in rows}
    signalled = {r.part_id for r in rows if r.signalled}
    assert {line.split()[1] for line in announced.read_text().splitlines()
            if line.startswith("immediate")} <= signalled


def test_sigterm_with_400_queued_parts_stores_400_rows(image_folder, tmp_path):
    folder = image_folder(400)
    data, announced = tmp_path / "data", tmp_path / "announced.txt"
    # A slow model and a backlog as long as the folder: the stop comes once 300 parts are
    # triggered (not after a fixed 0.3 s: on two loaded cores the folder was read at under
    # 100 parts a second and the stop came with 45 to 260 triggered).
    proc = _start(folder, data, announced, "--delay", "0.02", "--jobs", "400",
                  "--say-triggered", "300")
    assert proc.stdout.readline().strip() == "triggered"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    rows = stored_rows(data)
    triggered = int(out.split("done ")[1].split()[0])
    assert len(rows) == triggered and triggered >= 300  # every triggered part has its row
    assert all(r.status.value == "ok" for r in rows)


def test_a_second_signal_records_the_backlog_as_aborted_at_once(image_folder, tmp_path):
    folder = image_folder(400)
    data, announced = tmp_path / "data", tmp_path / "announced.txt"
    # A model slow enough (0.1 s a call) that the backlog is still long at the second signal,
    # however busy the machine is; the first signal waits until 300 parts are triggered (a
    # fixed 0.5 s on two loaded cores caught as few as 21, and aborted 0 to 13).
    proc = _start(folder, data, announced, "--delay", "0.1", "--jobs", "400",
                  "--say-triggered", "300")
    assert proc.stdout.readline().strip() == "triggered"
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    rows = stored_rows(data)
    parts, aborted = map(int, out.split("done ")[1].split()[:2])
    assert len(rows) == parts and aborted > 100  # the rest were recorded, not judged
    assert sum(r.status.value == "aborted" for r in rows) == aborted
    assert all(r.verdict.value != "OK" for r in rows if r.status.value == "aborted")

"""Forwarding into a real PostgreSQL: an outage through a cut TCP proxy, SIGKILL mid-batch."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from inspector.storage.engine import sqlite_url
from inspector.storage.events import EventStore
from inspector.storage.forward_queue import ForwardQueue
from inspector.storage.forwarder import Forwarder
from inspector.storage.store import InspectionStore
from tests.storage.conftest import MakeInspection
from tests.storage.tcp_proxy import TcpProxy
from tests.storage.test_forward import central_counts, event, queued, settings

RECOVERY_S = 30.0  # the bound: every part central within this after the network is back
# The outage is 60 s; the suite cuts 5 s to stay fast. INSPECTOR_TEST_OUTAGE_S=60 runs
# the full one (docs/benchmarks.md has its figures).
OUTAGE_S = float(os.environ.get("INSPECTOR_TEST_OUTAGE_S", "5"))


@pytest.fixture
def station(tmp_path: Path) -> Iterator[InspectionStore]:
    s = InspectionStore.open(sqlite_url(tmp_path / "station"))
    ForwardQueue(s.engine).enable("st-1", "central")
    yield s
    s.close()


@pytest.fixture
def central(pg_url: str) -> str:
    InspectionStore.open(pg_url).close()  # migrated, as the central service does at its start
    return pg_url


def through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def wait_for(predicate, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def test_an_outage_loses_nothing_and_stores_each_part_once(
        station: InspectionStore, central: str, make_inspection: MakeInspection) -> None:
    """A station makes 10 parts/s; the central database is cut off for OUTAGE_S of that time."""
    target = make_url(central)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    fwd = Forwarder(station.engine.url.render_as_string(hide_password=False),
                    settings(through(proxy, central), batch_rows=50, heartbeat_s=0.5,
                             backoff_start_s=0.2, backoff_max_s=2.0))
    parts = int(10 * (OUTAGE_S + 4))
    slowest_write = 0.0

    def produce() -> None:
        nonlocal slowest_write
        for i in range(parts):
            started = time.monotonic()
            station.write([make_inspection(i)])
            slowest_write = max(slowest_write, time.monotonic() - started)
            time.sleep(0.1)

    producer = threading.Thread(target=produce)
    fwd.start()
    try:
        producer.start()
        assert wait_for(lambda: central_counts(central)["inspections"] > 0, 10)
        proxy.cut()
        during = central_counts(central)["inspections"]
        time.sleep(OUTAGE_S)
        assert central_counts(central)["inspections"] == during   # really cut off
        assert fwd.stats.errors > 0
        behind = queued(station)
        assert behind > 0
        proxy.restore()
        back = time.monotonic()
        producer.join()
        assert wait_for(lambda: central_counts(central)["inspections"] == parts, RECOVERY_S)
        recovered_in = time.monotonic() - back
        print(f"outage {OUTAGE_S:.0f} s, {behind} rows behind at its end, all {parts} parts "
              f"central {recovered_in:.1f} s after the network came back")
    finally:
        fwd.stop()
        proxy.close()
    assert central_counts(central) == {"inspections": parts, "distinct": parts, "rollups": parts,
                                       "events": 0, "audit": 0}
    assert recovered_in < RECOVERY_S
    assert queued(station) == 0
    # the station never waited for the central database: a write held up by the forwarder would
    # take its connect timeout (5 s) or SQLite's busy timeout (10 s); a loaded machine's fsync less
    assert slowest_write < 4.0


def _shipped(central: str) -> int:
    counts = central_counts(central)
    return counts["inspections"] + counts["events"]


def _forward_forever(local: str, central: str) -> None:
    """The forwarder process body (forked): ships until killed."""
    Forwarder(local, settings(central, batch_rows=40, heartbeat_s=0.5)).run()


def test_sigkill_mid_batch_five_times_loses_and_duplicates_nothing(
        station: InspectionStore, central: str, make_inspection: MakeInspection) -> None:
    parts = 1200
    for start in range(0, parts, 300):
        station.write([make_inspection(i) for i in range(start, start + 300)])
    EventStore(station.engine).write([event(i) for i in range(parts)])
    local = station.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")  # starts in milliseconds, a real process
    rng = random.Random(29)
    kills = 0
    seen = 0
    while kills < 5:
        proc = context.Process(target=_forward_forever, args=(local, central), daemon=True)
        proc.start()
        # kill while rows are flowing: after the central side moved on, before the queue is empty
        # (inspections ship first, then events: count both, or a fast run waits for nothing)
        assert wait_for(lambda seen=seen: _shipped(central) > seen, 20, every=0.05)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(5)
        assert proc.exitcode == -signal.SIGKILL
        kills += 1
        seen = _shipped(central)
        assert queued(station) > 0, "the queue ran dry before the 5th kill: make it longer"
    fwd = Forwarder(local, settings(central, batch_rows=500))
    fwd.run(until_empty=True)
    fwd.close()
    assert central_counts(central) == {"inspections": parts, "distinct": parts, "rollups": parts,
                                       "events": parts, "audit": 0}
    assert queued(station) == 0

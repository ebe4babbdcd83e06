"""Bounded buffers: each overflow policy, its counters, and close semantics."""

from __future__ import annotations

import threading
import time

import pytest

from inspector.pipeline.buffers import Closed, Overflow, Ring


def test_drop_oldest_never_blocks_and_counts():
    ring = Ring(3, Overflow.DROP_OLDEST)
    for i in range(5):
        assert ring.put(i)
    assert ring.dropped == 2 and len(ring) == 3
    assert [ring.get(0), ring.get(0), ring.get(0)] == [2, 3, 4]
    assert ring.get(0) is None


def test_reject_refuses_and_counts():
    ring = Ring(2, Overflow.REJECT)
    assert ring.put(1) and ring.put(2)
    assert not ring.put(3)
    assert ring.rejected == 1 and ring.high_water == 2


def test_wait_blocks_until_the_consumer_makes_room():
    ring = Ring(1, Overflow.WAIT)
    ring.put("a")
    assert not ring.put("b", timeout=0.01)  # timed out: still full
    threading.Timer(0.05, ring.get).start()
    t0 = time.monotonic()
    assert ring.put("c", timeout=5)
    assert time.monotonic() - t0 >= 0.04
    assert ring.get(0) == "c"


def test_get_many_takes_what_waits_up_to_the_limit():
    ring = Ring(10, Overflow.WAIT)
    for i in range(5):
        ring.put(i)
    assert ring.get_many(3, 0) == [0, 1, 2]
    assert ring.get_many(8, 0) == [3, 4]
    assert ring.get_many(8, 0.01) == []


def test_close_drains_then_raises_and_refuses_puts():
    ring = Ring(4, Overflow.WAIT)
    ring.put(1)
    ring.close()
    with pytest.raises(Closed):
        ring.put(2)
    assert ring.get(0) == 1
    with pytest.raises(Closed):
        ring.get(1)


def test_close_wakes_a_blocked_consumer():
    ring: Ring[int] = Ring(1, Overflow.WAIT)
    threading.Timer(0.05, ring.close).start()
    with pytest.raises(Closed):
        ring.get(5)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        Ring(0, Overflow.WAIT, "frames")

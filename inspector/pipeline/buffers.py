"""Bounded buffers with a named overflow policy and counters: the frame ring and job queues."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Overflow(enum.StrEnum):
    """What a full buffer does with a new item."""

    DROP_OLDEST = "drop_oldest"  # live cameras: never block capture; the stalest frame goes
    WAIT = "wait"                # files and folders: block the producer so replays are complete
    REJECT = "reject"            # put() returns False and the caller records the item otherwise


class Closed(Exception):
    """The buffer was closed: no more items will come (get) or be accepted (put)."""


class Ring(Generic[T]):
    """A bounded FIFO shared by one producer and one consumer thread.

    `dropped` counts items discarded by DROP_OLDEST and `rejected` items refused by REJECT;
    both only ever rise, so metrics can report them as totals.
    """

    def __init__(self, capacity: int, policy: Overflow, name: str = "ring") -> None:
        if capacity < 1:
            raise ValueError(f"{name}: capacity must be at least 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.policy = policy
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.put_count = 0
        self.dropped = 0
        self.rejected = 0
        self.high_water = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Add an item under the policy; False when it was refused (REJECT or WAIT timed out)."""
        with self._cond:
            if self._closed:
                raise Closed(self.name)
            if len(self._items) >= self.capacity and not self._make_room(timeout):
                self.rejected += 1
                return False
            self._items.append(item)
            self.put_count += 1
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return True

    def _make_room(self, timeout: float | None) -> bool:
        if self.policy is Overflow.DROP_OLDEST:
            self._items.popleft()
            self.dropped += 1
            return True
        if self.policy is Overflow.REJECT:
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._items) >= self.capacity and not self._closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._cond.wait(remaining)
        if self._closed:
            raise Closed(self.name)
        return True

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, or None after `timeout`; raises Closed once closed and empty."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    raise Closed(self.name)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def get_many(self, limit: int, timeout: float | None = None) -> list[T]:
        """Block for one item (up to `timeout`), then take whatever else waits, up to `limit`."""
        first = self.get(timeout)
        if first is None:
            return []
        batch = [first]
        with self._cond:
            while self._items and len(batch) < limit:
                batch.append(self._items.popleft())
            self._cond.notify_all()
        return batch

    def close(self) -> None:
        """No more puts; consumers drain what is left and then get Closed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

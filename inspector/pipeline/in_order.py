"""InOrder: the inference threads' rows leave in the order their parts were queued."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from inspector.pipeline.metrics import MetricsRecorder
from inspector.pipeline.records import Outcome

logger = logging.getLogger(__name__)

TURN_WAIT_S = 1.0  # longest a batch's rows are held for a batch taken before it

Recheck = Callable[[list[Outcome]], list[Outcome]]


class InOrder:
    """Emits each batch's outcomes in the order the inference threads took the batches, so the
    line hears verdicts in trigger order however long each batch took beside the others.

    A thread that finished early does not wait: its batch is held until the ones before it are
    out, and checked again as it goes (`recheck`: a verdict held past its deadline is late). A
    batch held over `wait_s` behind a missing one goes out at the next batch or idle poll of any
    inference thread; the missing one follows when it comes, out of turn (counted in the drops
    as `out_of_turn`). What is still held when the last inference thread finishes goes out then
    (`flush`).
    """

    def __init__(self, emit: Callable[[Outcome], None], recorder: MetricsRecorder | None = None,
                 wait_s: float = TURN_WAIT_S) -> None:
        self.emit, self.recorder, self.wait_s = emit, recorder, wait_s
        self.taking = threading.Lock()  # held while a thread takes a batch and its ticket
        self._lock = threading.Lock()   # emission under it: batches never interleave
        self._issued = 0
        self._next = 0  # the ticket whose turn it is
        self._held: dict[int, tuple[float, list[Outcome], Recheck | None]] = {}

    def take(self) -> int:
        """The next ticket (call under `taking`, with the batch just taken)."""
        ticket, self._issued = self._issued, self._issued + 1
        return ticket

    def done(self, ticket: int, outcomes: list[Outcome], recheck: Recheck | None = None) -> None:
        """A batch's outcomes: out now if it is their turn (with any held ones after), else held."""
        with self._lock:
            if ticket < self._next:
                self._out_of_turn(ticket)
                self._emit(self._checked(outcomes, recheck))
                return
            if ticket == self._next:
                self._emit(outcomes)
                self._next += 1
            else:
                self._held[ticket] = (time.monotonic(), outcomes, recheck)
            self._release()

    def release_overdue(self) -> None:
        """Let out what waited too long behind a missing batch (an inference thread found no work)."""
        with self._lock:
            self._release()

    def flush(self) -> None:
        """Everything still held, in ticket order (the last inference thread has finished)."""
        with self._lock:
            for ticket in sorted(self._held):
                self._emit_held(ticket)

    def _release(self) -> None:
        while self._held:
            if self._next not in self._held:
                if time.monotonic() - min(t for t, _, _ in self._held.values()) <= self.wait_s:
                    return
                self._next = min(self._held)  # the batches before it are given up on, for now
            self._emit_held(self._next)
            self._next += 1

    def _emit_held(self, ticket: int) -> None:
        _, outcomes, recheck = self._held.pop(ticket)
        self._emit(self._checked(outcomes, recheck))

    def _checked(self, outcomes: list[Outcome], recheck: Recheck | None) -> list[Outcome]:
        """A held batch checked again; a check that fails lets its rows out as judged (a bug
        there must not cost the parts their rows, nor the thread that happens to release them)."""
        if recheck is None:
            return outcomes
        try:
            return recheck(outcomes)
        except Exception as exc:
            logger.exception("inference: checking a held batch again failed; its rows go out as judged")
            if self.recorder is not None:
                self.recorder.error(f"inference: held batch not checked again: {type(exc).__name__}: {exc}")
            return outcomes

    def _out_of_turn(self, ticket: int) -> None:
        message = f"inference: batch {ticket} came after the {self.wait_s:g} s wait: out of turn"
        logger.warning("%s", message)
        if self.recorder is not None:
            self.recorder.drop("out_of_turn")
            self.recorder.error(message)

    def _emit(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.emit(outcome)

"""The RejectOutput protocol: told each part's verdict as soon as the pipeline has it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from inspector.domain import Inspection


@runtime_checkable
class RejectOutput(Protocol):
    """Signals a part's verdict to the line (relay, PLC, log). Runs on the outputs thread.

    `emit` should return quickly; it may raise, and the station then logs and counts the
    failure and carries on with the next part.
    """

    def emit(self, inspection: Inspection) -> None: ...

"""The LineProtocol boundary: one connection to a PLC/MES giving triggers in and results out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from inspector.control import StationControl
from inspector.domain import Alarm, Inspection


@dataclass(frozen=True)
class LineContext:
    """What a protocol needs from the station config beside its own section."""

    station_id: str
    db_url: str  # the station database: the result worker reads rows after its cursor there


@dataclass(frozen=True)
class LineState:
    """A protocol's connection state and counters, for /api/v1/station (extra) and /metrics."""

    protocol: str           # the config `type`
    name: str               # the config `name` (the delivery cursor's key)
    connected: bool
    triggers: int = 0       # trigger messages taken
    bad_triggers: int = 0   # malformed or refused trigger messages (each answered on the error topic)
    sent: int = 0           # results published (re-sends included)
    delivered: int = 0      # results acknowledged by the broker / PLC
    backlog: int = 0        # stored rows after the delivery cursor
    queue_full: int = 0     # announcements the worker's queue could not take (sent from the store)
    cursor: int = 0         # inspections.id delivered up to

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@runtime_checkable
class LineProtocol(Protocol):
    """Both sides of one line connection.

    As a station output (`when == "stored"`) it hears each part after its row is durable
    (`emit`) and each alarm (`alarm`); both return at once, the sending happens on its own
    worker. `start(control)` connects and takes triggers through StationControl; `stop()` and
    `close()` (the station's output worker calls it at the end) disconnect; both idempotent.
    """

    when: str
    failures: int

    def start(self, control: StationControl | None) -> None: ...

    def stop(self) -> None: ...

    def emit(self, inspection: Inspection) -> None: ...

    def alarm(self, alarm: Alarm) -> None: ...

    def close(self) -> None: ...

    def state(self) -> LineState: ...

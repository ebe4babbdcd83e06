"""Forwarder: ships the station's queued rows to the central database in batches, with backoff."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from inspector import __version__
from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for, parse_url
from inspector.storage.forward_central import Contact, record_contact, store_batch
from inspector.storage.forward_queue import Batch, ForwardQueue
from inspector.storage.migrate import alembic_config, current_revision, head_revision, upgrade
from inspector.storage.partitions import UPKEEP_EVERY_S, ensure_partitions

logger = logging.getLogger(__name__)

# libpq settings for the central connection: fail fast on a dead network instead of waiting
# for the OS TCP timeouts, so backoff and recovery take seconds, not minutes.
PG_CONNECTION = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "5",
                 "keepalives_interval": "2", "keepalives_count": "3", "tcp_user_timeout": "15000"}
STOP_TIMEOUT_S = 20.0
DRAIN_S = 5.0  # how long stop() keeps shipping what is queued


@dataclass(frozen=True)
class ForwardSettings:
    """Who forwards where, and how hard."""

    station_id: str
    central_url: str = field(repr=False)  # with its password: never logged or shown
    api_url: str | None = None       # where the central API fetches this station's images
    batch_rows: int = 500            # queue entries per central transaction
    poll_s: float = 0.5              # how often an empty queue is looked at again
    heartbeat_s: float = 5.0         # last_contact_at moves at least this often when idle
    backoff_start_s: float = 0.5     # first wait after a failure, doubled per failure...
    backoff_max_s: float = 10.0      # ...up to this, so recovery is noticed within it


@dataclass
class ForwarderStats:
    """Counters since the forwarder started (for its own log and the stations row)."""

    batches: int = 0
    entries: int = 0                 # queue entries shipped (a row queued twice counts twice)
    errors: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_contact_at: datetime | None = None


def backoff_delay(failures: int, start_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff, capped, with +-20 % jitter so many stations do not retry in step."""
    base = min(max_s, start_s * 2 ** max(0, failures - 1))
    return min(max_s, base * rng.uniform(0.8, 1.2))


def central_engine(url: str) -> Engine:
    """The central database's engine: PostgreSQL with short connect and TCP timeouts."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        extra = {k: v for k, v in PG_CONNECTION.items() if k not in parsed.query}
        parsed = parsed.update_query_dict(extra)
    return create_engine_for(parsed)


def migrate_central(engine: Engine) -> None:
    """The same migrations as every database (a no-op once there). A central database already
    past this code's newest revision (its service was upgraded first) is left as it is: the
    tables a station writes only ever gain columns."""
    try:
        upgrade(engine)
    except (StoreError, AlembicError):
        try:
            current = current_revision(engine)
        except SQLAlchemyError:
            current = None  # unreachable: the upgrade's own error says so
        if current is None or knows_revision(current):
            raise
        logger.warning("central database is at revision %s, newer than this station's %s: "
                       "forwarding without migrating it", current, head_revision())


def knows_revision(revision: str) -> bool:
    """Whether this code ships the migration `revision`."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except AlembicError:
        return False


class Forwarder:
    """Reads the station's forward queue in order and writes each batch centrally in one
    transaction, then forgets it locally. A crash between the two re-ships the batch, which the
    central side stores once. Its own engines and thread: a central database that is down
    never slows the station, it only grows the queue."""

    def __init__(self, local_url: str, settings: ForwardSettings) -> None:
        self.settings = settings
        self.stats = ForwarderStats()
        self._local_url = local_url
        self._local: ForwardQueue | None = None
        self._local_engine: Engine | None = None
        self._central: Engine | None = None
        self._central_migrated = False
        self._status_shipped: datetime | None = None
        self._next_check = 0.0
        self._next_partitions = time.monotonic() + UPKEEP_EVERY_S  # the first: at the migration
        self._started_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._wake = threading.Event()          # cuts a wait short: stop or drain asked for
        self._drain_until: float | None = None  # monotonic deadline of the last shipping
        self._thread: threading.Thread | None = None
        self._rng = random.Random()

    @property
    def central(self) -> str:
        """The central URL with the password hidden."""
        return parse_url(self.settings.central_url).render_as_string(hide_password=True)

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Forward on a daemon thread until stop()."""
        self._thread = threading.Thread(target=self.run, name="forwarder", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """End the loop after the step in hand (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    def stop(self, drain_s: float = DRAIN_S) -> None:
        """Ship what is queued for up to `drain_s` (a station that stops leaves its last parts
        central when the central side answers), then end the thread and close the engines."""
        self._drain_until = time.monotonic() + drain_s
        self._wake.set()
        if self._thread is not None:
            self._thread.join(drain_s + STOP_TIMEOUT_S)
        self._stop.set()
        self.close()

    def run(self, until_empty: bool = False) -> None:
        """Ship until stop() (or, with until_empty, until the queue is empty once)."""
        failures = 0
        logger.info("forwarding station %s to %s", self.settings.station_id, self.central)
        while not self._stop.is_set():
            finishing = self._drain_until is not None
            if finishing and time.monotonic() >= self._drain_until:
                return
            try:
                shipped = self.step()
            except Exception as exc:  # the thread must outlive any one failure
                failures += 1
                delay = backoff_delay(failures, self.settings.backoff_start_s,
                                      self.settings.backoff_max_s, self._rng)
                self._failed(exc, failures, delay)
                if finishing:
                    return  # the central side is away: the queue keeps the rest
                self._wake.wait(delay)
                continue
            if failures:
                logger.info("forwarding to %s again after %d failed tries", self.central, failures)
                failures = 0
            if shipped:
                continue
            if until_empty or finishing:
                return
            self._wake.wait(self.settings.poll_s)

    def step(self) -> int:
        """One batch (or a heartbeat when idle and due); returns the queue entries shipped."""
        queue = self._queue()
        if time.monotonic() >= self._next_check:
            # mend: a table rebuilt by a later migration loses its triggers
            if not queue.healthy():
                queue.enable(self.settings.station_id, self.central)
            self._next_check = time.monotonic() + self.settings.heartbeat_s
        batch = queue.read(self.settings.batch_rows)
        self._keep_partitions_ahead()
        last = self.stats.last_contact_at
        due = last is None or (datetime.now(UTC) - last).total_seconds() >= self.settings.heartbeat_s
        if batch.last_seq is None and not due:
            return 0
        status = queue.status_row(self.settings.station_id)
        if status is not None and status["updated_at"] == self._status_shipped:
            status = None
        contact = self._contact(batch, status)
        engine = self._central_engine()
        try:
            with engine.begin() as conn:
                if batch.last_seq is None:
                    record_contact(conn, contact)
                else:
                    store_batch(conn, batch, contact)
        except SQLAlchemyError as exc:
            engine.dispose()  # broken connections must not be handed out again
            detail = getattr(exc, "orig", None) or exc
            raise StoreError(f"cannot forward to {self.central}: {detail}") from exc
        self.stats.last_contact_at = datetime.now(UTC)
        if status is not None:
            self._status_shipped = status["updated_at"]
        if batch.last_seq is None:
            return 0
        queue.delete_through(batch.last_seq)
        self.stats.batches += 1
        self.stats.entries += batch.entries
        return batch.entries

    def close(self) -> None:
        if self._local_engine is not None:
            self._local_engine.dispose()
        if self._central is not None:
            self._central.dispose()

    # --- helpers -------------------------------------------------------------------------

    def _queue(self) -> ForwardQueue:
        if self._local is None:
            engine = create_engine_for(self._local_url)
            try:
                upgrade(engine)
                queue = ForwardQueue(engine)
                queue.enable(self.settings.station_id, self.central)
            except Exception:
                engine.dispose()
                raise
            self._local, self._local_engine = queue, engine
        return self._local

    def _central_engine(self) -> Engine:
        if self._central is None:
            self._central = central_engine(self.settings.central_url)
        if not self._central_migrated:
            migrate_central(self._central)
            self._central_migrated = True
        return self._central

    def _keep_partitions_ahead(self) -> None:
        """A forwarder running for months keeps the central months ahead partitioned (hourly),
        so its rows never pile up in the DEFAULT partition between service restarts."""
        if time.monotonic() < self._next_partitions:
            return
        self._next_partitions = time.monotonic() + UPKEEP_EVERY_S
        ensure_partitions(self._central_engine())

    def _contact(self, batch: Batch, status: dict[str, Any] | None) -> Contact:
        s = self.stats
        lag_s = 0.0
        if batch.lag_oldest_at is not None:
            lag_s = max(0.0, (datetime.now(UTC) - batch.lag_oldest_at).total_seconds())
        state = {"version": __version__, "started_at": self._started_at.isoformat(),
                 "batch_rows": self.settings.batch_rows,
                 # counted with this batch: the row is written in its transaction
                 "batches": s.batches + (batch.last_seq is not None),
                 "entries": s.entries + batch.entries, "errors": s.errors,
                 "last_error": s.last_error,
                 "last_error_at": s.last_error_at.isoformat() if s.last_error_at else None}
        return Contact(self.settings.station_id, self.settings.api_url, batch.lag_rows, lag_s,
                       state, status)

    def _failed(self, exc: BaseException, failures: int, delay: float) -> None:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        self.stats.errors += 1
        self.stats.last_error = detail
        self.stats.last_error_at = datetime.now(UTC)
        expected = isinstance(exc, StoreError | SQLAlchemyError)  # the database, not a bug
        if failures == 1 or not expected:
            logger.warning("forwarding to %s failed (try %d, next in %.1f s): %s",
                           self.central, failures, delay, detail, exc_info=not expected)
        else:
            logger.debug("forwarding to %s failed (try %d, next in %.1f s): %s",
                         self.central, failures, delay, detail)

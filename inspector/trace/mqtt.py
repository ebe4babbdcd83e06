"""MQTT subscriber: machines publish process events, a writer thread stores them in batches."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from inspector.errors import StoreError, TraceError
from inspector.storage.events import EventStore, ProcessEvent
from inspector.trace.config import MqttEventsConfig
from inspector.trace.ingest import validate_events

logger = logging.getLogger(__name__)

_RETRY_S = 1.0   # wait before retrying a batch the database refused


@dataclass(frozen=True)
class MqttStats:
    """Counters of the subscriber since start."""

    connected: bool
    messages: int           # MQTT messages received
    bad_payloads: int       # not JSON, or neither an object nor an array
    events: int             # valid events taken from payloads
    bad_events: int         # invalid events inside otherwise good payloads
    stored: int             # newly stored events
    duplicates: int         # events already stored (same serial, machine, step, timestamp)
    dropped: int            # valid events dropped because the queue stayed full
    queue_depth: int


class MqttEventSubscriber:
    """Subscribes to `config.topic`, validates each payload and stores its events.

    Two threads: paho's network loop (parses and validates, never touches the database) and
    one writer that drains a bounded queue into the EventStore in batches.
    """

    def __init__(self, config: MqttEventsConfig, store: EventStore) -> None:
        self.config = config
        self._store = store
        self._queue: queue.Queue[ProcessEvent] = queue.Queue(maxsize=config.queue_size)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("messages", "bad_payloads", "events", "bad_events", "stored", "duplicates",
             "dropped"), 0,
        )
        self._client: mqtt.Client | None = None
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself) and start the writer."""
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id)
        if cfg.username:
            client.username_pw_set(cfg.username, os.environ.get(cfg.password_env))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(1, 30)
        self._client = client
        self._writer = threading.Thread(target=self._write_loop, name="mqtt-events", daemon=True)
        self._writer.start()
        client.connect_async(cfg.host, cfg.port, cfg.keepalive_s)
        client.loop_start()
        logger.info("MQTT events: subscribing to %s on %s:%d", cfg.topic, cfg.host, cfg.port)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker acknowledged the subscription (tests, health checks)."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect, then let the writer store what is queued and end."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)
            if self._writer.is_alive():
                logger.error("MQTT event writer did not stop within %.1f s", timeout)

    def stats(self) -> MqttStats:
        """A snapshot of the counters."""
        with self._lock:
            counts = dict(self._counts)
        return MqttStats(
            connected=self._subscribed.is_set(), queue_depth=self._queue.qsize(), **counts
        )

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("MQTT broker refused the connection: %s", reason_code)
            return
        # subscribe here, so a reconnect subscribes again
        client.subscribe(self.config.topic, qos=self.config.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            logger.error("MQTT broker refused subscription to %s", self.config.topic)
            return
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._subscribed.clear()
        if not self._stop.is_set():
            logger.warning("MQTT broker connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._count(messages=1)
        try:
            events = self._parse(message.payload)
        except TraceError as exc:
            self._count(bad_payloads=1)
            logger.warning("MQTT %s: bad payload: %s", message.topic, exc)
            return
        for event in events:
            try:
                self._queue.put(event, timeout=self.config.put_timeout_s)
            except queue.Full:
                self._count(dropped=1)
                logger.error("MQTT event queue full; dropped an event of %s", event.serial)

    def _parse(self, payload: bytes) -> list[ProcessEvent]:
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TraceError(f"not JSON: {exc}") from exc
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise TraceError(f"expected an event object or an array, got {type(data).__name__}")
        good, bad = validate_events(data)
        self._count(events=len(good), bad_events=len(bad))
        if bad:
            logger.warning("MQTT: %d bad event(s); first: #%d %s", len(bad), bad[0].index,
                           bad[0].message)
        return good

    # --- writer thread ----------------------------------------------------------------------

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take_batch()
            if batch:
                self._store_batch(batch)

    def _take_batch(self) -> list[ProcessEvent]:
        batch: list[ProcessEvent] = []
        try:
            batch.append(self._queue.get(timeout=self.config.flush_interval_s))
            while len(batch) < self.config.batch_size:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _store_batch(self, batch: list[ProcessEvent]) -> None:
        while True:
            try:
                stored = self._store.insert(batch)
            except StoreError as exc:
                if self._stop.is_set():
                    logger.error("MQTT: giving up on %d events at stop: %s", len(batch), exc)
                    self._count(dropped=len(batch))
                    return
                logger.error("MQTT: cannot store %d events, retrying: %s", len(batch), exc)
                self._stop.wait(_RETRY_S)
                continue
            self._count(stored=stored, duplicates=len(batch) - stored)
            return

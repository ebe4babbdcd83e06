"""Run the MQTT event subscriber beside a station or the API server, for as long as they run."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.config import MqttEventsConfig
from inspector.trace.mqtt import MqttEventSubscriber

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0


@contextlib.contextmanager
def mqtt_ingestion(config: MqttEventsConfig, db_url: str) -> Iterator[MqttEventSubscriber | None]:
    """Subscribe while the block runs when `config.enabled`; yields None when disabled.

    The engine is created without connecting or migrating: with the database away at start,
    the subscriber's writer retries (and the station, which migrates, journals meanwhile).
    """
    if not config.enabled:
        yield None
        return
    store = InspectionStore.open(db_url, migrate=False)
    subscriber = MqttEventSubscriber(config, EventStore(store.engine))
    subscriber.start()
    try:
        yield subscriber
    finally:
        subscriber.stop(STOP_TIMEOUT_S)
        stats = subscriber.stats()
        logger.info("MQTT events: %d messages, %d events stored, %d duplicates, %d bad payloads, "
                    "%d bad events, %d dropped", stats.messages, stats.stored, stats.duplicates,
                    stats.bad_payloads, stats.bad_events, stats.dropped)
        store.close()

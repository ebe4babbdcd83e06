"""MQTT subscriber against the real broker at INSPECTOR_TEST_MQTT (host:port)."""

from __future__ import annotations

import json
import os
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from inspector.storage.events import EventStore
from inspector.trace.config import MqttEventsConfig
from inspector.trace.mqtt import MqttEventSubscriber
from tests.api.conftest import API_BASE


@pytest.fixture
def broker() -> tuple[str, int]:
    value = os.environ.get("INSPECTOR_TEST_MQTT")
    if not value:
        pytest.skip("INSPECTOR_TEST_MQTT is not set (e.g. 127.0.0.1:1883, a running Mosquitto)")
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port or 1883)


def _publish(host: str, port: int, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _subscriber(broker: tuple[str, int], events: EventStore) -> tuple[MqttEventSubscriber, str]:
    """A started subscriber on a topic of its own (so parallel runs never meet), and that prefix."""
    host, port = broker
    prefix = f"inspector-test/{uuid.uuid4().hex}"
    config = MqttEventsConfig(host=host, port=port, topic=f"{prefix}/events/#",
                              flush_interval_s=0.1)
    subscriber = MqttEventSubscriber(config, events)
    subscriber.start()
    return subscriber, prefix


def test_events_from_the_broker_are_stored(broker, events: EventStore) -> None:
    host, port = broker
    subscriber, prefix = _subscriber(broker, events)
    try:
        assert subscriber.wait_subscribed(10), "no subscription acknowledged by the broker"
        event = {"serial": "SN-1", "machine": "kiln-2", "step": "firing",
                 "timestamp": "2024-05-01T08:00:00Z", "parameters": {"temp": 871.5}}
        array = [dict(event, serial="SN-2"), dict(event, serial="SN-3"), {"serial": "bad"}]
        _publish(host, port, f"{prefix}/events/kiln-2", [
            json.dumps(event).encode(), json.dumps(array).encode(), b"not json", b"42",
            json.dumps(event).encode(),  # a repeat: stored once
        ])
        assert _wait(lambda: subscriber.stats().stored + subscriber.stats().duplicates >= 4)
        stats = subscriber.stats()
        assert (stats.messages, stats.bad_payloads, stats.bad_events) == (5, 2, 1)
        assert (stats.stored, stats.duplicates, stats.dropped) == (3, 1, 0)
    finally:
        subscriber.stop()
    assert events.for_serial("SN-3")[0].parameters == {"temp": 871.5}


def test_health_shows_the_subscriber_counters(broker, store, events: EventStore) -> None:
    from fastapi.testclient import TestClient

    from inspector.api import ApiSettings, create_app

    host, port = broker
    subscriber, prefix = _subscriber(broker, events)
    try:
        assert subscriber.wait_subscribed(10), "no subscription acknowledged by the broker"
        client = TestClient(create_app(store, events, ApiSettings(), mqtt=subscriber), base_url=API_BASE)
        event = {"serial": "SN-9", "machine": "press-1", "step": "pressing",
                 "timestamp": "2024-05-01T08:00:00Z", "parameters": {"force": 12.0}}
        _publish(host, port, f"{prefix}/events/press-1", [json.dumps(event).encode(), b"{oops"])
        assert _wait(lambda: subscriber.stats().stored >= 1 and subscriber.stats().messages >= 2)
        mqtt_health = client.get("/health").json()["mqtt"]
        assert mqtt_health["connected"] is True
        assert (mqtt_health["messages"], mqtt_health["stored"], mqtt_health["bad_payloads"]) == (2, 1, 1)
    finally:
        subscriber.stop()

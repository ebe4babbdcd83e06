"""paho's outgoing QoS 2 state over reconnect attempts: released stays released, or is resent."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from inspector.lineio.session import SessionClient, publish_released_again


def _client_with(states: dict[int, int]) -> SessionClient:
    client = SessionClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)
    client.connect_async("127.0.0.1", 1, clean_start=False)  # a session to resume, never opened
    for mid, state in states.items():
        message = mqtt.MQTTMessage(mid, b"inspector/s/result")
        message.qos, message.state = 2, state
        client._out_messages[mid] = message
    return client


def test_a_released_message_survives_failed_reconnect_attempts():
    client = _client_with({1: mqtt.mqtt_ms_wait_for_pubcomp, 2: mqtt.mqtt_ms_wait_for_pubrec})
    for _ in range(3):  # each reconnect attempt resets; the broker stayed away twice
        client._messages_reconnect_reset_out()
    released, unanswered = client._out_messages[1], client._out_messages[2]
    assert released.state == mqtt.mqtt_ms_resend_pubrel  # PUBREL again, never a second PUBLISH
    assert unanswered.state == mqtt.mqtt_ms_publish and unanswered.dup  # a DUP the broker knows


def test_a_lost_session_publishes_released_messages_again():
    client = _client_with({1: mqtt.mqtt_ms_wait_for_pubcomp, 2: mqtt.mqtt_ms_wait_for_pubrec})
    client._messages_reconnect_reset_out()
    assert publish_released_again(client) == 1  # a PUBREL alone would be answered, not delivered
    assert client._out_messages[1].state == mqtt.mqtt_ms_publish and client._out_messages[1].dup

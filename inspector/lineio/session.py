"""paho-mqtt's MQTT 5 session across reconnects: resumable QoS 2 state, and what to do without it."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties


class SessionClient(mqtt.Client):
    """paho's Client whose reconnect keeps a released QoS 2 message released.

    paho resets its outgoing messages before each reconnect attempt: a QoS 2 message whose
    PUBREL was sent (waiting for PUBCOMP) becomes "send PUBREL again". An attempt that fails
    (broker still away) runs the reset again, which turns "send PUBREL again" into "publish
    again", and the broker, which had delivered that message already, delivers it a second time.
    This keeps such messages released over any number of failed attempts (paho 2.2)."""

    def _messages_reconnect_reset_out(self) -> None:
        with self._out_message_mutex:
            released = [m for m in self._out_messages.values()
                        if m.qos == 2 and m.state in (mqtt.mqtt_ms_resend_pubrel,
                                                      mqtt.mqtt_ms_wait_for_pubcomp)]
            super()._messages_reconnect_reset_out()
            if not self._check_clean_session():
                for message in released:
                    message.state = mqtt.mqtt_ms_resend_pubrel


def publish_released_again(client: mqtt.Client) -> int:
    """After a reconnect into a new session: QoS 2 messages waiting for PUBCOMP become new
    publishes. paho would send only their PUBREL, which a broker without the session answers
    with PUBCOMP although it never had the message (mosquitto delivers on PUBREL): a silent
    loss. Published again instead, one may arrive twice (consumers dedupe on part_id).

    paho has no public call for this; its message table is changed under its own lock. Runs in
    on_connect, after paho reset the states for the new connection and before it resends."""
    count = 0
    with client._out_message_mutex:
        for message in client._out_messages.values():
            if message.qos == 2 and message.state == mqtt.mqtt_ms_resend_pubrel:
                message.state, message.dup = mqtt.mqtt_ms_publish, True
                count += 1
    return count


def session_properties(packet: int, expiry_s: int) -> Properties:
    """CONNECT or DISCONNECT properties with the MQTT 5 session expiry interval."""
    props = Properties(packet)
    props.SessionExpiryInterval = expiry_s
    return props

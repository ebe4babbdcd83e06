"""MqttLine: triggers in; results, status and alarms out; over one paho-mqtt connection."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes

from inspector.control import StationControl
from inspector.domain import Alarm, Inspection
from inspector.errors import InspectorError
from inspector.lineio.base import LineContext, LineState
from inspector.lineio.config import MqttLineConfig
from inspector.lineio.payloads import (
    BadTrigger,
    alarm_payload,
    encode,
    parse_trigger,
    part_ref_of,
    result_payload,
)
from inspector.lineio.sender import ResultSender, SenderSettings
from inspector.lineio.session import SessionClient, publish_released_again, session_properties
from inspector.storage.delivery import DeliveryStore

logger = logging.getLogger(__name__)

TRIGGER_QUEUE = 1024      # trigger messages waiting for the trigger thread
RUNNING_POLL_S = 0.05    # the trigger thread waits for the station to run before subscribing
SESSION_END_WAIT_S = 5.0  # longest wait for the broker's answer when ending the old session
STATUS_WAIT_S = 1.0       # at stop, longest wait for the retained `offline` to reach the broker
ONLINE, OFFLINE = "online", "offline"
PACKET_ID_NOT_FOUND = 0x92  # MQTT 5 PUBCOMP reason code
OTHER_INFLIGHT = 4        # of the broker's Receive Maximum, kept for messages other than results
TAKEN = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)  # paho keeps QoS>0 both


@dataclass
class ResultReceipt:
    """One published result: answered by the broker yet (PUBCOMP at QoS 2), and refused?

    Set from on_publish (paho's MQTTMessageInfo.is_published raises for a message published
    while the connection was down, though paho sends it after the reconnect)."""

    mid: int
    connection: int  # the connection it was published on (MqttLine's count of connects)
    answered: bool = False
    refused: bool = False

    def is_published(self) -> bool:
        return self.answered


class MqttLine:
    """The station on an MQTT broker.

    paho's network thread only moves bytes; a trigger thread hands trigger messages to
    StationControl (a database lookup may take a while) and the ResultSender's thread sends
    stored rows after its cursor. `emit` and `alarm` never wait for the broker.
    """

    protocol = "mqtt"

    def __init__(self, cfg: MqttLineConfig, ctx: LineContext) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.name = cfg.name
        self.when = "stored"  # results only after the row is durable
        self.failures = 0
        self.triggers = self.bad_triggers = 0
        self.connected = False
        self.sessions_lost = 0  # reconnects where the broker had not kept the session
        self._connects = 0
        self._topics = {key: partial(_topic, getattr(cfg, key), ctx.station_id)
                        for key in ("trigger_topic", "result_topic", "status_topic", "alarm_topic",
                                    "error_topic")}
        self._control: StationControl | None = None
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()
        self._receipts: dict[int, ResultReceipt] = {}  # results not yet answered, by paho mid
        self._receipts_lock = threading.Lock()
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        self._taking = threading.Event()  # the station runs: subscribe to triggers
        self._inbox: queue.Queue[bytes] = queue.Queue(TRIGGER_QUEUE)
        self._trigger_thread: threading.Thread | None = None
        self._connect_thread: threading.Thread | None = None
        self._looping = False  # paho's network thread runs
        self.sender = ResultSender(
            SenderSettings(ctx.station_id, cfg.name, cfg.queue_size, cfg.max_inflight,
                           cfg.save_interval_s, cfg.poll_interval_s, cfg.stop_timeout_s,
                           cfg.linger_s),
            partial(DeliveryStore.open, ctx.db_url), self._send_result, lambda: self.connected)

    @classmethod
    def from_config(cls, cfg: MqttLineConfig, ctx: LineContext) -> MqttLine:
        return cls(cfg, ctx)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self, control: StationControl | None) -> None:
        """Connect (in the background; paho reconnects by itself) and take triggers."""
        self._control = control
        if control is not None and self.cfg.triggers and self._trigger_thread is None:
            self._trigger_thread = threading.Thread(target=self._trigger_loop, daemon=True,
                                                    name=f"lineio-{self.name}-triggers")
            self._trigger_thread.start()
        self.open()

    def open(self) -> None:
        """Connect and start the result worker, once (emit/alarm call it when start did not)."""
        with self._lock:
            if self._client is not None or self._closed.is_set():
                return
            self._client = self._make_client()
        if self.cfg.results:
            self.sender.start()
        self._connect_thread = threading.Thread(target=self._connect, daemon=True,
                                                name=f"lineio-{self.name}-connect")
        self._connect_thread.start()

    def _connect(self) -> None:
        """End an earlier run's session, then connect for good (paho reconnects from there).

        Every connection asks to resume the session (MQTT 5 clean start 0, session expiry), so a
        reconnect after a cut or a broker restart completes the QoS 2 results in flight instead
        of sending them again. (mosquitto 2.0 does not save a session begun with clean start 1
        when it stops, so clean start only on the first connect would not last a broker restart.)
        A station start must not inherit the last run's session: its queued, stale triggers and
        its unfinished publishes whose ids the new run reuses. A short connection with clean
        start 1 and no expiry ends it first; it is retried while the broker is away."""
        cfg, client = self.cfg, self._client
        assert client is not None
        delay = 1.0
        logger.info("line mqtt %s: connecting to %s:%d", self.name, cfg.host, cfg.port)
        while cfg.session_expiry_s and not self._closed.is_set():
            try:
                self._end_old_session()
                break
            except (OSError, ConnectionError) as exc:
                logger.warning("line mqtt %s: broker %s:%d not reachable (%s); trying again in "
                               "%g s", self.name, cfg.host, cfg.port, exc, delay)
                self._closed.wait(delay)
                delay = min(2 * delay, cfg.reconnect_max_s)
        with self._lock:
            if self._closed.is_set():
                return
            client.connect_async(cfg.host, cfg.port, cfg.keepalive_s,
                                 clean_start=not cfg.session_expiry_s,
                                 properties=session_properties(PacketTypes.CONNECT,
                                                                cfg.session_expiry_s))
            client.loop_start()
            self._looping = True

    def _end_old_session(self) -> None:
        """Connect once with clean start and session expiry 0, and leave: the broker drops what
        it kept for this client id. Raises ConnectionError when the broker refuses."""
        cfg = self.cfg
        answer: list = []
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                            client_id=cfg.resolved_client_id(self.ctx.station_id))
        if cfg.username:
            probe.username_pw_set(cfg.username, os.environ.get(cfg.password_env))
        probe.on_connect = lambda c, u, flags, reason_code, props: answer.append(reason_code)
        probe.connect(cfg.host, cfg.port, cfg.keepalive_s, clean_start=True,
                      properties=session_properties(PacketTypes.CONNECT, 0))
        try:
            deadline = time.monotonic() + SESSION_END_WAIT_S
            while not answer and time.monotonic() < deadline:
                probe.loop(0.1)
        finally:
            probe.disconnect()
            probe.loop(0.1)  # writes the DISCONNECT; paho closes the socket after it
        if not answer:
            raise ConnectionError("no CONNACK")
        if answer[0].is_failure:
            raise ConnectionError(f"the broker refused the connection: {answer[0]}")

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        """Deliver what is stored (up to stop_timeout_s), say `offline`, disconnect. Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._trigger_thread is not None:
            self._trigger_thread.join(5.0)
        self.sender.close()
        if self._connect_thread is not None:
            self._connect_thread.join(SESSION_END_WAIT_S + 1)
        client = self._client
        if client is None or not self._looping:
            return
        if self.connected:
            info = client.publish(self._topics["status_topic"](), OFFLINE, qos=1, retain=True)
            info.wait_for_publish(STATUS_WAIT_S)
        # A clean stop ends the session (expiry 0): the broker keeps no trigger queue for a
        # station that is not there; unacknowledged results are sent again from the cursor.
        client.disconnect(properties=session_properties(PacketTypes.DISCONNECT, 0))
        client.loop_stop()
        self.connected = False

    def state(self) -> LineState:
        s = self.sender
        return LineState(self.protocol, self.name, self.connected, self.triggers,
                         self.bad_triggers, s.sent, s.delivered, s.backlog, s.queue_full, s.cursor)

    def wait_ready(self, timeout: float) -> bool:
        """True once connected (and subscribed, when taking triggers): tests, benchmarks."""
        if self._trigger_thread is not None:
            return self._subscribed.wait(timeout)
        return self.sender.ready.wait(timeout) if self.cfg.results else True

    # ---- station output ----------------------------------------------------------------------

    def emit(self, inspection: Inspection) -> None:
        if self.cfg.results:
            self.open()
            self.sender.offer(inspection)

    def alarm(self, alarm: Alarm) -> None:
        self.open()
        topic = self._topics["alarm_topic"](alarm=alarm.kind)
        self._publish(topic, encode(alarm_payload(alarm)), retain=True)

    # ---- paho ---------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = SessionClient(CallbackAPIVersion.VERSION2,
                               client_id=cfg.resolved_client_id(self.ctx.station_id),
                               protocol=mqtt.MQTTv5)
        if cfg.username:
            client.username_pw_set(cfg.username, os.environ.get(cfg.password_env))
        client.will_set(self._topics["status_topic"](), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(1, int(cfg.reconnect_max_s))
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("line mqtt %s: the broker refused the connection: %s", self.name,
                         reason_code)
            return
        self._connects += 1
        if self._connects > 1 and not flags.session_present:
            self.sessions_lost += 1
            resent = publish_released_again(client)
            logger.warning("line mqtt %s: the broker kept no session (restarted without "
                           "persistence, or session_expiry_s passed): %d released results are "
                           "published again and may arrive twice", self.name, resent)
        receive_max = getattr(properties, "ReceiveMaximum", None)
        if receive_max:  # the broker's limit of unacknowledged QoS>0 publishes (MQTT 5): results
            # leave room for acks, status and alarms (mosquitto disconnects on "quota exceeded")
            self.sender.limit_inflight(int(receive_max) - OTHER_INFLIGHT)
        self.connected = True
        logger.info("line mqtt %s: connected to %s:%d", self.name, self.cfg.host, self.cfg.port)
        client.publish(self._topics["status_topic"](), ONLINE, qos=1, retain=True)
        self._subscribe(client)
        self.sender.wake()

    def _subscribe(self, client: mqtt.Client) -> None:
        if self._taking.is_set():
            client.subscribe(self._topics["trigger_topic"](), qos=self.cfg.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            logger.error("line mqtt %s: the broker refused the trigger subscription", self.name)
            return
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = False
        self._subscribed.clear()
        if not self._closed.is_set():
            logger.warning("line mqtt %s: connection lost (%s); reconnecting", self.name,
                           reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        refused = reason_code.is_failure  # MQTT 5: the broker answered and did not take it
        with self._receipts_lock:
            receipt = self._receipts.pop(mid, None)
            if (refused and reason_code.value == PACKET_ID_NOT_FOUND and receipt is not None
                    and receipt.connection < self._connects):
                # PUBREL sent again into the resumed session: the broker had completed this
                # message before the cut and the PUBCOMP was lost. (On the same connection the
                # answer means the broker refused the PUBLISH, whose PUBREC paho ignores.)
                refused = False
            if receipt is not None:
                receipt.refused = refused  # the sender publishes a refused result again
                receipt.answered = True
        if refused:
            self.failures += 1
            logger.error("line mqtt %s: the broker refused message %d%s: %s", self.name, mid,
                         " (a result: sent again)" if receipt is not None else "", reason_code)
        self.sender.wake()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            self._inbox.put_nowait(bytes(message.payload))
        except queue.Full:
            self._refuse(bytes(message.payload), "trigger queue full: the station is behind")

    def _publish(self, topic: str, payload: bytes, retain: bool = False, qos: int | None = None):
        """Publish without waiting; a refusal is logged and counted, never raised."""
        client = self._client
        if client is None:
            return None
        try:
            info = client.publish(topic, payload, qos=self.cfg.qos if qos is None else qos,
                                  retain=retain)
        except (ValueError, OSError) as exc:
            self.failures += 1
            logger.error("line mqtt %s: cannot publish to %s: %s", self.name, topic, exc)
            return None
        if info.rc not in TAKEN:
            self.failures += 1
            logger.error("line mqtt %s: publish to %s refused: %s", self.name, topic,
                         mqtt.error_string(info.rc))
            return None
        return info

    def _send_result(self, row_id: int, row: Inspection) -> ResultReceipt | None:
        topic = self._topics["result_topic"](verdict=str(row.verdict))
        client = self._client
        if client is None:
            return None
        # paho calls on_publish holding its message lock (an RLock publish takes too): with the
        # receipt registered under it, the broker's answer cannot come before the receipt.
        with client._out_message_mutex:
            info = self._publish(topic, encode(result_payload(row, row_id)))
            if info is None:
                return None
            receipt = ResultReceipt(info.mid, self._connects)
            with self._receipts_lock:
                self._receipts[info.mid] = receipt
        return receipt

    # ---- triggers ------------------------------------------------------------------------------

    def _trigger_loop(self) -> None:
        self._await_running()
        while not self._closed.is_set():
            try:
                payload = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._take(payload)
            except Exception:  # the loop's top: one bad message never ends the trigger thread
                logger.exception("line mqtt %s: trigger handling failed", self.name)
                self._refuse(payload, "internal error (see the station log)")

    def _await_running(self) -> None:
        """Subscribe to triggers once the station runs (the connection may come before that)."""
        assert self._control is not None
        while not self._closed.wait(RUNNING_POLL_S):
            if self._control.status().get("running"):
                break
        self._taking.set()
        client = self._client
        if client is not None and self.connected:
            self._subscribe(client)

    def _take(self, payload: bytes) -> None:
        try:
            msg = parse_trigger(payload)
        except BadTrigger as exc:
            self._refuse(payload, f"malformed trigger: {exc}")
            return
        assert self._control is not None
        try:
            receipt = self._control.trigger(msg.serial, msg.part_ref, msg.meta)
        except InspectorError as exc:  # StationStateError: not running, trigger type
            self._refuse(payload, str(exc), msg.part_ref)
            return
        self.triggers += 1
        if self.cfg.ack_topic:
            self._publish(_topic(self.cfg.ack_topic, self.ctx.station_id), encode({
                "part_id": receipt.part_id, "part_ref": receipt.part_ref,
                "duplicate": receipt.duplicate}), qos=1)

    def _refuse(self, payload: bytes, why: str, part_ref: str | None = None) -> None:
        self.bad_triggers += 1
        logger.warning("line mqtt %s: trigger refused: %s", self.name, why)
        answer: dict[str, Any] = {"error": why, "part_ref": part_ref or part_ref_of(payload),
                                  "payload": payload[:200].decode("utf-8", "replace")}
        self._publish(self._topics["error_topic"](), encode(answer), qos=1)


def _topic(template: str, station_id: str, **values: str) -> str:
    return template.format(station_id=station_id, **values)


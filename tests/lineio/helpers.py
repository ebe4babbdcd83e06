"""Test helpers for the line protocols: the broker under test, a result collector, a TCP cut."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from inspector.config import StationConfig
from tests.faults.inputs import TILES

BUNDLE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile"
ENV = "INSPECTOR_TEST_MQTT"


def broker() -> tuple[str, int]:
    """The broker under test from INSPECTOR_TEST_MQTT (host:port); skips without it."""
    value = os.environ.get(ENV)
    if not value:
        pytest.skip(f"{ENV} is not set (e.g. 127.0.0.1:1883; .ci/run starts Mosquitto and sets it)")
    host, _, port = value.rpartition(":")
    try:
        socket.create_connection((host, int(port)), 2).close()
    except OSError as exc:
        pytest.skip(f"{ENV}={value}: no broker answers ({exc})")
    return host, int(port)


def station_config(tmp_path: Path, lineio: dict, station_id: str | None = None,
                   **extra) -> StationConfig:
    """A station with an external trigger over a looping folder of tiles and one MQTT line."""
    folder = tmp_path / "line"
    folder.mkdir(exist_ok=True)
    for tile in TILES[:4]:
        shutil.copy(tile, folder / tile.name)
    return StationConfig.model_validate({
        "station": {"id": station_id or f"t{uuid.uuid4().hex[:10]}",
                    "data_dir": str(tmp_path / "data")},
        "source": {"type": "folder", "path": str(folder), "loop": True},
        "trigger": {"type": "external", "max_skew_s": 5.0},
        "model": {"bundle": str(BUNDLE)},
        "outputs": [],
        "api": {"enabled": False},
        "queues": {"triggers": 4096, "jobs": 4096},
        "lineio": [{"type": "mqtt", **lineio}],
        **extra,
    })


class Collector:
    """Subscribes to topics and keeps every message (topic, decoded payload, retain flag)."""

    def __init__(self, host: str, port: int, *topics: str) -> None:
        self.messages: list[tuple[str, object, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"collector-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "collector could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        try:
            payload: object = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode()
        with self._lock:
            self.messages.append((msg.topic, payload, bool(msg.retain)))

    def on(self, suffix: str) -> list[object]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def part_ids(self) -> Counter:
        return Counter(p["part_id"] for p in self.on("/result"))

    def wait(self, check: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return check()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class TcpCut:
    """A TCP forwarder to the broker that a test can cut (connections closed, port refusing)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        """Nothing listens and every forwarded connection is closed at once."""
        with self._lock:
            server, self._server = self._server, None
            conns, self._conns = self._conns, []
        if server is not None:
            server.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, 5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        with contextlib.suppress(OSError):
            s.close()

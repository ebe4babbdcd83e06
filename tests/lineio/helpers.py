"""Test helpers for the line protocols: the broker under test, a result collector, a TCP cut."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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
    """Subscribes to topics and keeps every message (topic, decoded payload, retain flag).

    `session_expiry_s` > 0: an MQTT 5 consumer as docs/lineio.md asks for (a session the broker
    keeps across an outage, QoS 2), so what it misses while away is queued, none twice."""

    def __init__(self, host: str, port: int, *topics: str, qos: int = 1,
                 session_expiry_s: int = 0) -> None:
        self.messages: list[tuple[str, object, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        persistent = session_expiry_s > 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"collector-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5 if persistent else mqtt.MQTTv311)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, qos) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        if persistent:
            # clean start 0 from the first connect: mosquitto 2.0 does not keep a session
            # begun with clean start 1 across its restart
            self.client.connect(host, port, clean_start=False,
                                properties=session_properties(session_expiry_s))
        else:
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


def session_properties(expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    return props


class Mosquitto:
    """A Mosquitto broker of the test's own on a free port, keeping sessions on disk, that the
    test stops (SIGTERM: it saves its state) and starts again; the shared broker stays up."""

    def __init__(self, workdir: Path, persistence: bool = True) -> None:
        exe = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
            None)
        if exe is None:
            pytest.skip("no mosquitto executable to run a broker the test can stop")
        self.exe = exe
        self.port = _free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"user {getpass.getuser()}",  # run as root, it would switch to `mosquitto` (no access)
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
            "max_queued_messages 0",  # a consumer away during the outage gets all it missed
            f"log_dest file {workdir}/mosquitto.log",
            "",
        ]))
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} (see {self.conf.parent})")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

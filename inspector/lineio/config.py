"""Pydantic config models of the line protocols (`lineio:` in station.yaml), one per `type`."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from inspector.hosts import is_loopback

# Placeholders each topic template may use; anything else is a config error.
TOPIC_PLACEHOLDERS = {
    "trigger_topic": {"station_id"},
    "result_topic": {"station_id", "verdict"},
    "status_topic": {"station_id"},
    "alarm_topic": {"station_id", "alarm"},
    "error_topic": {"station_id"},
    "ack_topic": {"station_id"},
}
PUBLISHED = ("result_topic", "status_topic", "alarm_topic", "error_topic", "ack_topic")


class MqttLineConfig(BaseModel):
    """Triggers in and results, status and alarms out over one MQTT broker connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["mqtt"] = Field(description="MQTT (paho-mqtt): the plant's message bus.")
    name: str = Field(
        "mqtt", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="This connection's name: its delivery cursor in the database, its label in "
        "/metrics. Unique per station.")
    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port.")
    client_id: str | None = Field(
        None, max_length=128,
        description="MQTT client id; default `inspector-{station_id}-{name}`.")
    username: str | None = Field(None, description="Broker user name, if it requires one.")
    password_env: str = Field(
        "INSPECTOR_MQTT_PASSWORD", description="Environment variable holding the password.")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive interval.")
    reconnect_max_s: float = Field(
        10.0, ge=1, le=300, description="Longest wait between reconnect attempts (backoff from 1 s).")
    triggers: bool = Field(
        True, description="Subscribe to trigger_topic: parts announced by the PLC/MES (needs "
        "`trigger: {type: external}`, or `api.manual_trigger: true`).")
    results: bool = Field(True, description="Publish one result message per part.")
    trigger_topic: str = Field(
        "inspector/{station_id}/trigger", min_length=1,
        description="Trigger messages: JSON {\"serial\": ..., \"part_ref\": ...} (both optional); "
        "a part_ref seen before is the same part (idempotent). Placeholder: {station_id}.")
    result_topic: str = Field(
        "inspector/{station_id}/result", min_length=1,
        description="One JSON result per part (QoS `qos`). Placeholders: {station_id}, {verdict}.")
    status_topic: str = Field(
        "inspector/{station_id}/status", min_length=1,
        description="Retained `online` / `offline` (the broker's last will says `offline` when the "
        "station vanishes). Placeholder: {station_id}.")
    alarm_topic: str = Field(
        "inspector/{station_id}/alarm/{alarm}", min_length=1,
        description="Retained JSON per alarm kind, raised or cleared (camera_offline, "
        "store_unreachable, deadline_missed). Placeholders: {station_id}, {alarm}.")
    error_topic: str = Field(
        "inspector/{station_id}/trigger/error", min_length=1,
        description="Answers to trigger messages that could not be taken (malformed, station not "
        "taking triggers). Placeholder: {station_id}.")
    ack_topic: str | None = Field(
        "inspector/{station_id}/trigger/ack",
        description="Answer to each accepted trigger: part_id, part_ref, duplicate; null: none. "
        "Placeholder: {station_id}.")
    qos: Literal[1, 2] = Field(
        2, description="QoS of results, triggers and alarms. 2 = exactly once per connection: with "
        "the session the broker keeps (session_expiry_s) a broker outage or a cut connection "
        "delivers no result twice. 1 = at least once: a result in flight at a cut may arrive twice "
        "(consumers dedupe on part_id).")
    session_expiry_s: int = Field(
        3600, ge=0, le=2**32 - 2,
        description="How long the broker keeps this connection's session (results in flight, the "
        "trigger subscription) after the connection is lost (MQTT 5 session expiry). Each station "
        "start begins a new session and a clean stop ends it. 0: no session (needs qos 1).")
    queue_size: int = Field(
        1024, ge=1, le=1_000_000,
        description="Rows announced to the result worker and not yet taken; when full the row is "
        "counted (`queue_full`) and still sent: the worker reads the store after its cursor.")
    max_inflight: int = Field(
        256, ge=1, le=20_000,
        description="Results published and not yet acknowledged by the broker; at the limit "
        "(broker away) the rest waits in the database, not in memory.")
    save_interval_s: float = Field(
        0.5, gt=0, le=60,
        description="How often the delivery cursor is saved while results are acknowledged (a "
        "crash re-sends at most this long's results; a clean stop re-sends none).")
    poll_interval_s: float = Field(
        1.0, gt=0, le=60,
        description="How often the store is checked without news (rows replayed from the journal).")
    stop_timeout_s: float = Field(
        5.0, ge=0, le=120,
        description="At stop, longest wait for the broker to acknowledge published results.")
    linger_s: float = Field(
        0.05, ge=0, le=1,
        description="While results keep coming, the result worker reads the store and publishes "
        "at most this often, so one read and one wake serve many results: a result waits at most "
        "this much longer; one after a quiet spell goes at once. 0: every result at once.")

    @field_validator(*TOPIC_PLACEHOLDERS)
    @classmethod
    def _topic(cls, template: str | None, info: ValidationInfo) -> str | None:
        if template is not None:
            key = info.field_name or ""
            problem = topic_problem(template, TOPIC_PLACEHOLDERS[key], publish=key in PUBLISHED)
            if problem:
                raise ValueError(problem)
        return template

    @model_validator(mode="after")
    def _session(self) -> MqttLineConfig:
        if self.qos == 2 and self.session_expiry_s == 0:
            raise ValueError("qos 2 needs the broker to keep the session (session_expiry_s > 0): "
                             "without it a result in flight at a cut connection can be lost")
        return self

    def resolved_client_id(self, station_id: str) -> str:
        return self.client_id or f"inspector-{station_id}-{self.name}"


def topic_problem(template: str, allowed: set[str], publish: bool) -> str | None:
    """Why a topic template is unusable (unknown placeholder, wildcard in a publish topic)."""
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"not a valid template ({exc}): write placeholders as {{name}}"
    unknown = sorted(set(fields) - allowed)
    if unknown:
        names = ", ".join("{" + u + "}" for u in unknown)
        known = ", ".join("{" + a + "}" for a in sorted(allowed))
        return f"unknown placeholder {names}; known here: {known}"
    if publish and re.search(r"[+#]", template):
        return "a published topic cannot hold the wildcards + or #"
    return None


class OpcUaSecurity(BaseModel):
    """Basic256Sha256 Sign & Encrypt with the station's certificate; user name optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    certificate: Path = Field(
        description="The server's X.509 certificate (PEM or DER). Its subjectAltName URI, when "
        "it has one, becomes the server's application URI (clients compare the two).")
    private_key: Path = Field(description="The certificate's private key (PEM or DER, unencrypted).")
    trusted_clients: Path | None = Field(
        None, description="A folder of client certificates (PEM or DER) allowed to connect; "
        "others are refused. null: any client certificate is taken (the channel is encrypted, "
        "but clients are not authenticated by certificate: set username then).")
    username: str | None = Field(
        None, min_length=1, max_length=128,
        description="Clients must log in with this user name and the password in password_env; "
        "anonymous clients are refused. null: anonymous clients over the secure channel.")
    password_env: str = Field(
        "INSPECTOR_OPCUA_PASSWORD", description="Environment variable holding the password.")

    def problems(self, prefix: str) -> list[str]:
        """What would keep the server from serving (check-config): files, folder, password."""
        found = [f"{prefix}.{key}: {path} is not a readable file"
                 for key, path in (("certificate", self.certificate),
                                   ("private_key", self.private_key))
                 if not (path.is_file() and os.access(path, os.R_OK))]
        if self.trusted_clients is not None and not self.trusted_clients.is_dir():
            found.append(f"{prefix}.trusted_clients: {self.trusted_clients} is not a folder")
        if self.username is not None and not os.environ.get(self.password_env):
            found.append(f"{prefix}.username: the password variable {self.password_env} is unset "
                         "or empty")
        return found


class OpcUaLineConfig(BaseModel):
    """An OPC UA server (asyncua) on the station: its state, its last result, Trigger(PartId)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["opcua"] = Field(
        description="OPC UA server, after the OPC 40100 Machine Vision companion specification.")
    name: str = Field(
        "opcua", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description="This connection's name: its label in /metrics and the station status. Unique "
        "per station.")
    security: OpcUaSecurity | None = Field(
        None, description="Serve only Basic256Sha256 Sign & Encrypt with this certificate (and a "
        "user name, optionally). null: security policy None, anonymous: loopback only, unless "
        "allow_insecure.")
    allow_insecure: bool = Field(
        False, description="Listen beyond loopback without `security`: no encryption and no "
        "authentication, whoever reaches the port can trigger parts and read results. Only on a "
        "separated line network.")
    endpoint: str = Field(
        "opc.tcp://127.0.0.1:4840",
        description="Where the server listens: opc.tcp://host:port[/path] (port 0: any free port). "
        "A host other than loopback needs `security` (or allow_insecure: true).")
    namespace_uri: str = Field(
        "urn:inspector:station", min_length=1, max_length=256,
        description="The namespace of the station's nodes (node ids ns=<its index>;s=Inspector...).")
    triggers: bool = Field(
        True, description="Offer the Trigger(PartId) method (needs `trigger: {type: external}`, or "
        "`api.manual_trigger: true`).")
    results: bool = Field(True, description="Write each stored part's result to LastResult.")
    state_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the station's state variables are refreshed.")
    max_clients: int = Field(
        16, ge=1, le=1000, description="Client connections served at once; more are refused.")
    retry_s: float = Field(
        5.0, gt=0, le=300, description="Wait before trying again when the endpoint cannot be served "
        "(port in use).")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "allow_remote" in data:
            raise ValueError("allow_remote is gone: configure `security` (certificate and key) to "
                             "listen beyond loopback, or allow_insecure: true on a separated line "
                             "network")
        return data

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        problem = endpoint_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @model_validator(mode="after")
    def _insecure_beyond_loopback(self) -> OpcUaLineConfig:
        host = urlsplit(self.endpoint).hostname or ""
        if self.security is None and not self.allow_insecure and not is_loopback(host):
            raise ValueError(f"endpoint: {host} is not loopback and the server has no security: "
                             "configure `security` (certificate and key), listen on 127.0.0.1, or "
                             "set allow_insecure: true on a separated line network")
        return self


def endpoint_problem(url: str) -> str | None:
    """Why an OPC UA endpoint URL cannot be served (scheme, host, port, extra parts)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not an endpoint URL ({exc}): write opc.tcp://host:4840"
    if parts.scheme != "opc.tcp":
        return f"scheme {parts.scheme or '(none)'!r}: write opc.tcp://host:4840"
    if not parts.hostname:
        return "no host: write opc.tcp://host:4840 (0.0.0.0 for every interface)"
    if port is None:
        return "no port: write opc.tcp://host:4840 (the OPC UA default), or :0 for any free port"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "user, query or fragment in the endpoint: write opc.tcp://host:port[/path]"
    return None


LineConfig = Annotated[MqttLineConfig | OpcUaLineConfig, Field(discriminator="type")]

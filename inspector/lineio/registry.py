"""The explicit registry of line protocols, keyed by the config's `type`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspector.lineio.base import LineContext, LineProtocol
from inspector.lineio.mqtt import MqttLine


def _opcua(cfg: Any, ctx: LineContext) -> LineProtocol:
    """asyncua is imported only by a station that serves OPC UA."""
    from inspector.lineio.opcua import OpcUaLine

    return OpcUaLine.from_config(cfg, ctx)


PROTOCOLS: dict[str, Callable[[Any, LineContext], LineProtocol]] = {
    "mqtt": MqttLine.from_config,
    "opcua": _opcua,
}


def build_line_protocols(cfg: Any) -> list[LineProtocol]:
    """One protocol per `lineio:` entry of a StationConfig, chosen by its `type`."""
    ctx = LineContext(cfg.station.id, cfg.db_url())
    return [PROTOCOLS[section.type](section, ctx) for section in cfg.lineio]

"""Reject outputs: the RejectOutput protocol, its implementations and their registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from inspector.outputs.base import RejectOutput
from inspector.outputs.command import CommandOutput
from inspector.outputs.log import LogOutput

OUTPUTS: dict[str, Callable[[Any], RejectOutput]] = {
    "log": LogOutput.from_config,
    "command": CommandOutput.from_config,
}


def build_outputs(configs: Sequence[Any]) -> list[RejectOutput]:
    """One output per `outputs:` entry, chosen by its `type`."""
    return [OUTPUTS[cfg.type](cfg) for cfg in configs]


__all__ = ["OUTPUTS", "CommandOutput", "LogOutput", "RejectOutput", "build_outputs"]

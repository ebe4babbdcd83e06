"""Who may reach the API at all: no listening on the network while no API key exists."""

from __future__ import annotations

from typing import Protocol

from inspector.errors import ConfigError
from inspector.hosts import is_loopback

__all__ = ["ActiveKeys", "check_listen_allowed", "is_loopback"]


class ActiveKeys(Protocol):
    """What the check needs of a key store (inspector.storage.keys.KeyStore has it)."""

    def active_count(self) -> int: ...


def check_listen_allowed(host: str, keys: ActiveKeys) -> None:
    """Raise ConfigError when `host` is reachable from the network and no unrevoked key exists."""
    if is_loopback(host) or keys.active_count() > 0:
        return
    raise ConfigError(
        f"refusing to listen on {host!r}: no API key exists, so anyone on the network could use "
        "the API. Create one first (`inspector keys create --role admin --name <you>`), or "
        "listen on 127.0.0.1."
    )

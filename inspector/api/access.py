"""Who may reach the API at all: no listening on the network while no API key exists."""

from __future__ import annotations

import ipaddress
from typing import Protocol

from inspector.errors import ConfigError


class ActiveKeys(Protocol):
    """What the check needs of a key store (inspector.storage.keys.KeyStore has it)."""

    def active_count(self) -> int: ...


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1; False for 0.0.0.0, :: and every other address."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_listen_allowed(host: str, keys: ActiveKeys) -> None:
    """Raise ConfigError when `host` is reachable from the network and no unrevoked key exists."""
    if is_loopback(host) or keys.active_count() > 0:
        return
    raise ConfigError(
        f"refusing to listen on {host!r}: no API key exists, so anyone on the network could use "
        "the API. Create one first (`inspector keys create --role admin --name <you>`), or "
        "listen on 127.0.0.1."
    )

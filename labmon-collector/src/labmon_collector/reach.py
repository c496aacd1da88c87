"""Which brokers a cycle could judge: the collector's own connection must have held through it, and a while before."""

from __future__ import annotations

import time

from labmon.config import BrokerConfig
from labmon.mqtt import RECONNECT_MAX_DELAY, BrokerClient

SETTLE = RECONNECT_MAX_DELAY + 1.0
"""After the collector reconnects, its measurers need up to this long to be back too: they are not judged before."""

Snapshot = list[tuple[bool, float | None]]
"""Each connection's state as a cycle starts, in the order of `Reach.clients`."""


class Reach:
    """Watches the collector's broker connections across cycles."""

    def __init__(self, clients: dict[BrokerConfig, BrokerClient]) -> None:
        self.clients = clients
        self._pairs = list(clients.items())
        """The connections in a fixed order: a broker's config hashes field by field, not looked up each cycle."""
        self._blind: set[BrokerConfig] = set()
        """Brokers a cycle found cut off: once back, their measurers get SETTLE seconds to reconnect."""

    def snapshot(self) -> Snapshot:
        """Note each connection as a cycle starts."""
        return [(_usable(client), client.up_since) for _, client in self._pairs]

    def blind(self, before: Snapshot) -> set[BrokerConfig]:
        """Return the brokers whose measurers the cycle begun at `before` cannot judge: cut off, dropped, just back."""
        for (broker, client), (connected, up_since) in zip(self._pairs, before, strict=True):
            if not (connected and _usable(client) and client.up_since == up_since):
                self._blind.add(broker)
            elif self._blind and broker in self._blind and time.time() - (client.up_since or 0.0) >= SETTLE:
                self._blind.discard(broker)
        return set(self._blind)

    def down_since(self) -> dict[str, float | None]:
        """Return, per broker address, since when the collector cannot reach or use it (None: it can)."""
        return {client.address: client.down_since or client.denials.refused_since for client in self.clients.values()}


def _usable(client: BrokerClient) -> bool:
    """Return whether the collector is connected and the broker takes what it publishes (a refused one: blind)."""
    return client.connected.is_set() and client.denials.refused_since is None

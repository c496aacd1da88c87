"""Who is active: the most preferred collector alive, unless another is active already (no flapping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["active", "standby"]


@dataclass
class Peer:
    """What this collector last heard from another one."""

    role: Role = "standby"
    heard: float = 0.0
    """When (monotonic seconds) its last role message came."""
    online: bool = False
    claims_since: float = 0.0
    """Since when (monotonic seconds) it has said "active" without a break (its claims so far as a standby)."""

    def alive(self, now: float, stale: float) -> bool:
        """Return whether it is online and was heard within `stale` seconds of `now`."""
        return self.online and now - self.heard <= stale


def decide(
    me: str, order: tuple[str, ...], role: Role, peers: dict[str, Peer], now: float, stale: float, steady: float = 0.0
) -> Role:
    """Return this collector's role given what it heard; a peer silent for `stale` seconds counts as gone.

    An active collector stays active unless a more preferred one has said it is active too for `steady` seconds
    (a partition that healed): claims held up in a link that stalled arrive in one burst, followed by the
    standby that collector became meanwhile, and must not make this one yield. A standby takes over only when
    no collector alive is active and none alive is preferred to it.
    """
    alive = {name: peer for name, peer in peers.items() if peer.alive(now, stale)}
    better = {name for name in alive if order.index(name) < order.index(me)}
    active = {name for name, peer in alive.items() if peer.role == "active"}
    if role == "active":
        steadily = {name for name in active if now - alive[name].claims_since >= steady}
        return "standby" if steadily & better else "active"
    return "standby" if active or better else "active"

"""Scale-out: which cameras a monitor replica probes under `--shard K/N`.

Rendezvous (highest-random-weight) hashing of camera ids: camera c belongs to the shard k
with the largest hash(c, k).  Every camera is in exactly one shard, any replica computes
the same answer from the id alone (no coordination), and going from N to N+1 shards moves
only the cameras whose new highest weight is shard N+1: about 1/(N+1) of them.  Command-centre
links are probed by every shard: they are few, and each shard's view of the links is
what its own feed checks depend on.
"""

from __future__ import annotations

import dataclasses
import hashlib

from ..model import Inventory


def _weight(camera_id: str, shard: int) -> int:
    digest = hashlib.blake2b(f"{shard}\x00{camera_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(camera_id: str, shards: int) -> int:
    """The 1-based shard that owns `camera_id` among `shards`."""
    if shards < 1:
        raise ValueError("shards must be >= 1")
    if shards == 1:
        return 1
    return max(range(1, shards + 1), key=lambda k: _weight(camera_id, k))


def select(inventory: Inventory, shard: int, shards: int) -> Inventory:
    """The inventory with only the cameras of shard `shard` of `shards`."""
    if not 1 <= shard <= shards:
        raise ValueError(f"shard {shard} not in 1..{shards}")
    if shards == 1:
        return inventory
    cameras = tuple(c for c in inventory.cameras if shard_of(c.id, shards) == shard)
    return dataclasses.replace(inventory, cameras=cameras)

"""Physical limits the measured figures are compared to: raw hashing speed on this machine, and what one
Ethereum block can carry at the measured gas per anchor."""
from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

from twinledger.formats.merkle import MerkleTree, keccak256

BLOCK_GAS_LIMIT = 30_000_000
BLOCK_TIME_S = 12.0
WINDOW_S = 1.0
SENSOR_HZ = 100


def sha256_seconds(data: bytes) -> float:
    """Seconds to sha2-256 `data` in 256 KiB pieces, as the importer chunks it (one hash per chunk)."""
    view = memoryview(data)
    t0 = time.perf_counter()
    for off in range(0, len(view), 256 * 1024):
        hashlib.sha256(view[off:off + 256 * 1024]).digest()
    return time.perf_counter() - t0


def keccak_seconds(encoded_readings: Sequence[bytes], batch_size: int) -> float:
    """Seconds for the hashing a verifier cannot avoid: every leaf (keccak of keccak of the reading) and every
    batch's Merkle tree, with nothing else (no decoding, no I/O, no chain)."""
    t0 = time.perf_counter()
    for start in range(0, len(encoded_readings), batch_size):
        leaves = [keccak256(keccak256(r)) for r in encoded_readings[start:start + batch_size]]
        MerkleTree(leaves).root
    return time.perf_counter() - t0


def block_capacity(gas_per_anchor: float, readings_per_anchor: int = SENSOR_HZ) -> dict[str, float]:
    """The largest deployment one 30M-gas block every 12 s carries when each feed anchors once per 1 s window:
    anchors per block, anchors per second, hence feeds at a 1 s window and readings/s at 100 Hz per feed."""
    per_block = BLOCK_GAS_LIMIT / gas_per_anchor
    per_s = per_block / BLOCK_TIME_S
    feeds = per_s * WINDOW_S
    return {
        "gas_per_anchor": gas_per_anchor,
        "anchors_per_block": per_block,
        "anchors_per_s": per_s,
        "feeds_at_1s_window": feeds,
        "readings_per_s_at_100hz": feeds * readings_per_anchor,
    }


def capacities(values: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Block capacity for every per-anchor gas figure that was measured."""
    rows = {
        "anchor (single, device-signed)": values.get("gas_anchor_single"),
        "anchorMany, signed, per feed (10 feeds)": values.get("gas_anchor_many_signed_per_feed_10"),
        "anchorMany, gateway, per feed (10 feeds)": values.get("gas_anchor_many_per_feed_10"),
        "event-only floor": values.get("gas_anchor_event_only_floor"),
    }
    return {name: block_capacity(gas) for name, gas in rows.items() if gas}

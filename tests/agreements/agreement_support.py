"""Helpers of the agreement tests: a temperature feed whose batches are built with the Python reference
formats and anchored on the real SensorFeed, and builders of an agreement's terms, parties and conditions.
Unique module name: the test folders have no __init__.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import ape
from eth_utils import keccak

from twinledger.formats.batch import Batch, Reading, encode_batch, encode_reading
from twinledger.formats.cids import pack, raw_cid_of
from twinledger.formats.merkle import MerkleTree, leaf_hash
from twinledger.formats.valuekey import KEY_MAX, KEY_MIN, order_key

SENSOR_NAME = "TempC"
SENSOR_COMPONENT = b"TempC".ljust(32, b"\x00")
ZERO32 = b"\x00" * 32
HOUR_MS = 3_600_000
CHALLENGE_MS = 600_000  # ten minutes
MAX_GAP_MS = 60_000
UNITS = 10**18

# IAgreementRegistry enums.
S_NONE, S_PROPOSED, S_ACTIVE, S_BREACHED, S_SETTLED, S_CANCELLED = range(6)
O_NONE, O_COMPLETED, O_BREACHED, O_EXPIRED, O_CANCELLED = range(5)
D_NONE, D_CONFIRMATION, D_PROGRAM_DONE, D_READING = range(4)


@dataclass
class Anchored:
    """One anchored batch: its header as `verifyBatch` takes it, its readings' bytes and their tree."""

    feed_id: int
    seq: int
    header: tuple[bytes, bytes, bytes, int, int, int]
    readings: list[bytes]
    tree: MerkleTree

    @property
    def t_first(self) -> int:
        return self.header[4]

    @property
    def t_last(self) -> int:
        return self.header[5]

    def proof(self, index: int) -> list[bytes]:
        return self.tree.proof(index)

    def breach_args(self, index: int) -> tuple[int, tuple, bytes, list[bytes]]:  # type: ignore[type-arg]
        """(seq, header, reading, proof) of reading `index`, as proveBreach takes them after (id, condition)."""
        return (self.seq, self.header, self.readings[index], self.proof(index))


# No device key: a gateway feed, anchored unsigned by an ANCHOR holder (a device key would make
# SensorFeed require the device's signature, review finding L-8).
GATEWAY_FEED = "0x" + "00" * 20


@dataclass
class Trailer:
    """A feed's device: anchors batches of (time, value) readings through an ANCHOR holder."""

    sensor_feed: Any
    feed_id: int
    sender: Any
    sensor: str = SENSOR_NAME
    batches: list[Anchored] = field(default_factory=list)
    next_rid: int = 0

    def anchor(self, points: Sequence[tuple[int, float]], sensor: str | None = None) -> Anchored:
        readings = []
        for t, v in points:
            readings.append(Reading(rid=self.next_rid, sensor=sensor or self.sensor, t_ms=t, value=float(v)))
            self.next_rid += 1
        seq = len(self.batches)
        encoded = [encode_reading(r) for r in readings]
        body = encode_batch(Batch(feed=self.feed_id, seq=seq, readings=tuple(readings)))
        cid, _ = pack(raw_cid_of(body))
        tree = MerkleTree([leaf_hash(b) for b in encoded])
        prev = self.sensor_feed.headOf(self.feed_id)
        t_first, t_last = readings[0].t_ms, readings[-1].t_ms
        self.sensor_feed.anchor(
            self.feed_id, seq, tree.root, cid, len(readings), t_first, t_last, b"", sender=self.sender
        )
        anchored = Anchored(self.feed_id, seq, (prev, tree.root, cid, len(readings), t_first, t_last), encoded, tree)
        self.batches.append(anchored)
        return anchored


def now_ms() -> int:
    return ape.chain.pending_timestamp * 1000


def advance_to(t_ms: int) -> None:
    """Mines a block so that the next transaction runs at `t_ms` (rounded up to a second) or later."""
    target = -(-t_ms // 1000)
    if ape.chain.pending_timestamp < target:
        ape.chain.pending_timestamp = target
        ape.chain.mine()


def sensor_id(name: str = SENSOR_NAME) -> bytes:
    return keccak(name.encode())


def condition(
    feed_id: int, lo: float | None = -25.0, hi: float | None = 3.0, max_gap_ms: int = MAX_GAP_MS, sensor: str = SENSOR_NAME
) -> tuple[int, bytes, int, int, int]:
    return (
        feed_id,
        sensor_id(sensor),
        KEY_MIN if lo is None else order_key(lo),
        KEY_MAX if hi is None else order_key(hi),
        max_gap_ms,
    )


def delivery(
    kind: int = D_NONE,
    deadline: int = 0,
    confirmer: int = 0,
    program: bytes = ZERO32,
    feed_id: int = 0,
    sensor: str = SENSOR_NAME,
    lo: float | None = None,
    hi: float | None = None,
) -> tuple:  # type: ignore[type-arg]
    return (
        kind,
        deadline,
        confirmer,
        program,
        feed_id,
        sensor_id(sensor) if kind == D_READING else ZERO32,
        KEY_MIN if lo is None else order_key(lo),
        KEY_MAX if hi is None else order_key(hi),
    )


def terms(twin: int, token: Any, start: int, end: int, deliver: tuple | None = None,  # type: ignore[type-arg]
          challenge_ms: int = CHALLENGE_MS) -> tuple:  # type: ignore[type-arg]
    address = token if isinstance(token, str) else token.address
    return (twin, address, start, end, challenge_ms, deliver or delivery())


def party(account: Any, role: str, deposit: int, completed: int, breached: int, expired: int) -> tuple:  # type: ignore[type-arg]
    return (account.address, keccak(text=role), deposit, completed, breached, expired)

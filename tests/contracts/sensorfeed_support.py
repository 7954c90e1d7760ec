"""Helpers of the SensorFeed tests: batches built with the Python reference formats, signing, and
the expected head chain. Unique module name: the test folders have no __init__.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dag_cbor
from eth_account.signers.local import LocalAccount

from twinledger.formats.cids import pack, raw_cid_of
from twinledger.formats.eip712 import AnchorMessage, sign_anchor
from twinledger.formats.headchain import GENESIS_HEAD, next_head
from twinledger.formats.merkle import MerkleTree, keccak256, leaf_hash

DEVICE_KEY = "0x" + "d3" * 32  # a device key that holds no ether: anyone relays its signed anchors
OTHER_KEY = "0x" + "e7" * 32
SENSOR = b"FillLevel".ljust(32, b"\x00")
T0 = 1_700_000_000_000


@dataclass
class Batch:
    """One batch built like the agent builds it: readings, tree, CID digest, times."""

    feed_id: int
    seq: int
    readings: list[bytes]
    tree: MerkleTree
    cid: bytes
    t_first: int
    t_last: int

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return len(self.readings)

    def fields(self) -> tuple[int, int, bytes, bytes, int, int, int]:
        return (self.feed_id, self.seq, self.root, self.cid, self.count, self.t_first, self.t_last)

    def header(self, prev_head: bytes) -> tuple[bytes, bytes, bytes, int, int, int]:
        """`ISensorFeedProofs.BatchHeader` of this batch anchored on top of `prev_head`."""
        return (prev_head, self.root, self.cid, self.count, self.t_first, self.t_last)

    def reading_hash(self, index: int) -> bytes:
        """keccak256 of reading `index`'s DAG-CBOR bytes: what `verifyReading` takes."""
        return keccak256(self.readings[index])


@dataclass
class FeedDriver:
    """Builds, signs and anchors batches, and tracks the expected head chain in Python."""

    sensor_feed: Any
    chain_id: int
    device: LocalAccount
    heads: dict[int, bytes] = field(default_factory=dict)
    prev_heads: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def batch(self, feed_id: int, seq: int, n: int = 3, t0: int | None = None) -> Batch:
        t0 = T0 + 1000 * seq if t0 is None else t0
        readings = [
            dag_cbor.encode({"r": seq * 1000 + i, "s": "FillLevel", "t": t0 + i, "v": 0.5 + i, "q": 0})
            for i in range(n)
        ]
        body = dag_cbor.encode({"v": 1, "feed": feed_id, "seq": seq, "readings": [dag_cbor.decode(r) for r in readings]})
        digest, _ = pack(raw_cid_of(body))
        tree = MerkleTree([leaf_hash(r) for r in readings])
        return Batch(feed_id, seq, readings, tree, digest, t0, t0 + n - 1)

    def prev_head(self, feed_id: int) -> bytes:
        return self.heads.get(feed_id, GENESIS_HEAD)

    def sign(
        self,
        b: Batch,
        *,
        prev_head: bytes | None = None,
        chain_id: int | None = None,
        key: Any = None,
        contract: str | None = None,
    ) -> bytes:
        msg = AnchorMessage(
            b.feed_id,
            b.seq,
            self.prev_head(b.feed_id) if prev_head is None else prev_head,
            b.root,
            b.cid,
            b.count,
            b.t_first,
            b.t_last,
        )
        return sign_anchor(
            self.device.key if key is None else key,
            msg,
            self.chain_id if chain_id is None else chain_id,
            self.sensor_feed.address if contract is None else contract,
        )

    def expect(self, b: Batch) -> bytes:
        """Records `b` as anchored in the Python head chain and returns the new head."""
        prev = self.prev_head(b.feed_id)
        head = next_head(prev, *b.fields())
        self.prev_heads[(b.feed_id, b.seq)] = prev
        self.heads[b.feed_id] = head
        return head

    def header(self, b: Batch) -> tuple[bytes, bytes, bytes, int, int, int]:
        """The header of anchored batch `b`, with the prev head recorded when it was anchored."""
        return b.header(self.prev_heads[(b.feed_id, b.seq)])

    def anchor(self, b: Batch, sender: Any, signature: bytes | None = None, signed: bool = True) -> Any:
        sig = (self.sign(b) if signed else b"") if signature is None else signature
        receipt = self.sensor_feed.anchor(*b.fields(), sig, sender=sender)
        self.expect(b)
        return receipt

    def item(self, b: Batch, signed: bool = False) -> tuple:  # type: ignore[type-arg]
        return (*b.fields(), self.sign(b) if signed else b"")


def allow_gateway(sensor_feed: Any, feed_ids: list[int], owner: Any) -> None:
    """Lets ANCHOR holders anchor these feeds unsigned (feeds with a device key require its signature by default)."""
    for f in feed_ids:
        sensor_feed.setSignatureRequired(f, False, sender=owner)


def register_feed_tx(sensor_feed: Any, twin: int, component: bytes, key: str, sender: Any) -> int:
    receipt = sensor_feed.registerFeed(twin, component, key, b"\x5c" * 32, sender=sender)
    return int(receipt.events.filter(sensor_feed.FeedRegistered)[-1].feedId)

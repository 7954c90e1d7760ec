"""From a closed batch to an anchor: store the canonical bytes on IPFS, build the Merkle root, and sign
the EIP-712 `Anchor` with the device key. The one implementation used by the daemon, the tools and tests."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..formats import cids
from ..formats.batch import Batch, decode_batch, reading_slices
from ..formats.eip712 import AnchorMessage, AnchorSigner, sign_anchor
from ..formats.headchain import next_head
from ..formats.merkle import MerkleTree, leaf_hash
from ..formats.batch import encode_reading
from .outbox import BatchRecord


@dataclass(frozen=True)
class PreparedAnchor:
    """Everything `SensorFeed.anchor` takes, plus the head it will produce."""

    feed: int
    seq: int
    root: bytes
    cid: str
    cid_digest: bytes
    count: int
    t_first: int
    t_last: int
    prev_head: bytes
    head: bytes
    signature: bytes

    def anchor_args(self) -> tuple[Any, ...]:
        return (self.feed, self.seq, self.root, self.cid_digest, self.count, self.t_first, self.t_last, self.signature)

    def as_input(self) -> tuple[Any, ...]:
        """The `AnchorInput` tuple of `SensorFeed.anchorMany`."""
        return self.anchor_args()


def merkle_tree(batch: Batch) -> MerkleTree:
    return MerkleTree([leaf_hash(encode_reading(r)) for r in batch.readings])


def store_batch(store, encoded: bytes) -> str:
    """Put the encoded batch as one raw block (CIDv1 raw, sha2-256), pinned; returns its CID."""
    stat = store.block_put(encoded, codec="raw", pin=True)
    return str(stat.cid)


def store_batches(store, encoded: Sequence[bytes]) -> list[str]:
    """`store_batch` of each, in one `block_put_many` (every block durable and pinned when it returns)."""
    return [str(stat.cid) for stat in store.block_put_many(list(encoded), codec="raw", pin=True)]


def prepare_anchor(batch: Batch, cid: str, prev_head: bytes, device_key: bytes | str | None,
                   chain_id: int, feed_contract: str, root: bytes | None = None) -> PreparedAnchor:
    """Compute root and head and sign; `device_key=None` leaves the signature empty (ANCHOR-permission path)."""
    root = root if root is not None else merkle_tree(batch).root
    digest, _codec = cids.pack(cid)
    times = [r.t_ms for r in batch.readings]
    t_first, t_last = min(times), max(times)
    message = AnchorMessage(feed_id=batch.feed, seq=batch.seq, prev_head=prev_head, root=root, cid=digest,
                            count=len(batch.readings), t_first=t_first, t_last=t_last)
    signature = sign_anchor(device_key, message, chain_id, feed_contract) if device_key is not None else b""
    head = next_head(prev_head, batch.feed, batch.seq, root, digest, len(batch.readings), t_first, t_last)
    return PreparedAnchor(feed=batch.feed, seq=batch.seq, root=root, cid=cid, cid_digest=digest,
                          count=len(batch.readings), t_first=t_first, t_last=t_last, prev_head=prev_head,
                          head=head, signature=signature)


_SIGNERS: dict[tuple[bytes | str, int, str], AnchorSigner] = {}


def _signer(device_key: bytes | str, chain_id: int, feed_contract: str) -> AnchorSigner:
    key = (device_key, chain_id, feed_contract)
    if key not in _SIGNERS:
        _SIGNERS[key] = AnchorSigner(device_key, chain_id, feed_contract)
    return _SIGNERS[key]


def prepare_closed(feed: int, seq: int, count: int, t_first: int, t_last: int, root: bytes, cid: str,
                   prev_head: bytes, device_key: bytes | str | None, chain_id: int, feed_contract: str) -> PreparedAnchor:
    """`prepare_stored` for a batch whose root the outbox computed when it closed it from the same bytes
    (`BatchRecord.root`): nothing is parsed or hashed per reading here; the same anchor either way."""
    digest, _codec = cids.pack(cid)
    message = AnchorMessage(feed_id=feed, seq=seq, prev_head=prev_head, root=root, cid=digest, count=count,
                            t_first=t_first, t_last=t_last)
    signature = _signer(device_key, chain_id, feed_contract).sign(message) if device_key is not None else b""
    head = next_head(prev_head, feed, seq, root, digest, count, t_first, t_last)
    return PreparedAnchor(feed=feed, seq=seq, root=root, cid=cid, cid_digest=digest, count=count, t_first=t_first,
                          t_last=t_last, prev_head=prev_head, head=head, signature=signature)


def prepare_stored(data: bytes, cid: str, prev_head: bytes, device_key: bytes | str | None,
                   chain_id: int, feed_contract: str) -> PreparedAnchor:
    """`prepare_anchor` for a batch's encoded bytes (the outbox's): the leaves hash the readings' own
    byte slices, so nothing is decoded into objects and re-encoded, and the signature skips eth-account's
    typed-data path (`AnchorSigner`); the same root, head and signature either way."""
    found = reading_slices(data)
    batch = decode_batch(data) if found is None else None
    if batch is not None:
        return prepare_anchor(batch, cid, prev_head, device_key, chain_id, feed_contract)
    assert found is not None
    feed, seq, slices, t_first, t_last = found
    root = MerkleTree([leaf_hash(s) for s in slices]).root
    return prepare_closed(feed, seq, len(slices), t_first, t_last, root, cid, prev_head, device_key, chain_id,
                          feed_contract)


def prepare_chain(records: Sequence[BatchRecord], data: Mapping[tuple[int, int], bytes], next_seq: int, head: bytes,
                  device_key: bytes | str | None, chain_id: int,
                  feed_contract: str) -> list[tuple[BatchRecord, PreparedAnchor]]:
    """The stored `records` of one feed that continue its chain at (`next_seq`, `head`), in seq order, each
    prepared on the head the one before leaves; signed from the root the outbox kept when it closed the batch
    (`prepare_closed`), or from its bytes for a batch closed before roots were kept (`prepare_stored`)."""
    out = []
    for record in records:
        if record.seq != next_seq:
            break
        assert record.cid is not None, "only stored batches are prepared"
        anchor = (prepare_closed(record.feed, record.seq, record.count, record.t_first, record.t_last, record.root,
                                 record.cid, head, device_key, chain_id, feed_contract) if record.root is not None
                  else prepare_stored(data[(record.feed, record.seq)], record.cid, head, device_key, chain_id,
                                      feed_contract))
        out.append((record, anchor))
        head, next_seq = anchor.head, next_seq + 1
    return out

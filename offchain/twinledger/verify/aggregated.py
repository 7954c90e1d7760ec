"""The gateway-aggregated mode seen by the verifier: every window on `GatewayAnchors`, its content fetched by
CID and checked against the anchored root, and its leaves turned into the same `AnchorRecord`s and anchoring
`AnchorTx`s the per-feed mode yields, so the `Verifier` checks both modes alike (head chain, seq continuity,
device signatures, batch content) and reports the same finding kinds.

A leaf's "anchoring transaction" is its window's: its sender is the gateway and its one call per leaf carries
the leaf's fields and device signature. An empty signature is a BAD_SIGNATURE here, never UNSIGNED: in this mode
no ANCHOR holder may stand in for the device. Window-level problems (content missing, tampered or undecodable,
a challenged window) are kept in `findings`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..formats.aggregate import Window, WindowFormatError, decode_window
from ..formats.cids import unpack
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from ..ledger import gateway
from ..ledger.reader import AnchorCall, AnchorRecord, AnchorTx, Ledger
from .findings import Finding, Kind, Location
from .content import store_unavailable
from .signatures import SignatureCheck


@dataclass
class WindowIndex:
    """The windows of one `Ledger` range, loaded on first use; empty on a deployment without `GatewayAnchors`."""

    ledger: Ledger
    store: Any
    _by_feed: dict[int, list[AnchorRecord]] | None = field(default=None, repr=False)
    _txs: dict[str, AnchorTx] = field(default_factory=dict, repr=False)
    _places: dict[str, tuple[int, Window]] = field(default_factory=dict, repr=False)
    windows: dict[int, tuple[gateway.WindowRecord, Window | None]] = field(default_factory=dict, repr=False)
    findings: list[Finding] = field(default_factory=list)

    @property
    def address(self) -> str | None:
        chain = self.ledger.chain
        return gateway.gateways(chain).address if gateway.has_gateway(chain) else None

    def all_windows(self) -> dict[int, tuple[gateway.WindowRecord, Window | None]]:
        """Every window of the range by id, with its content (None where it could not be read or checked)."""
        self._load()
        return self.windows

    def anchors(self, feed_id: int) -> list[AnchorRecord]:
        """The feed's batches in windows, as anchors (in window order)."""
        return list(self._load().get(feed_id, ()))

    def tx(self, tx_hash: str) -> AnchorTx | None:
        """The window transaction `tx_hash` as an anchoring transaction, None if it anchored no window."""
        self._load()
        return self._txs.get(tx_hash)

    def place(self, anchor: AnchorRecord) -> tuple[int, Window, int] | None:
        """(window id, window, leaf index) of a batch anchored in a window; None for a per-feed anchor."""
        self._load()
        found = self._places.get(anchor.tx_hash)
        if found is None:
            return None
        window_id, window = found
        for i, leaf in enumerate(window.leaves):
            if (leaf.feed_id, leaf.seq, leaf.head()) == (anchor.feed_id, anchor.seq, anchor.head):
                return window_id, window, i
        return None

    def verify_leaf(self, anchor: AnchorRecord, prev_head: bytes) -> bool:
        """`GatewayAnchors.verifyLeaf` for the window leaf of `anchor`, on top of `prev_head`."""
        found = self.place(anchor)
        if found is None:
            return False
        window_id, window, i = found
        leaf = window.leaves[i]
        return leaf.prev_head == prev_head and gateway.verify_leaf(self.ledger.chain, window_id, leaf, window.proof(i),
                                                                   self.ledger.to_block)

    def verify_reading(self, anchor: AnchorRecord, prev_head: bytes, reading_hash: bytes,
                       proof: list[bytes]) -> bool:
        """`GatewayAnchors.verifyReading`: the reading's proof to the batch root, the leaf's to the window root."""
        found = self.place(anchor)
        if found is None:
            return False
        window_id, window, i = found
        leaf = window.leaves[i]
        return leaf.prev_head == prev_head and gateway.verify_reading(
            self.ledger.chain, window_id, leaf, window.proof(i), reading_hash, proof, self.ledger.to_block)

    def is_window_tx(self, tx: AnchorTx) -> bool:
        return tx.tx_hash in self._txs and self._txs[tx.tx_hash] is tx

    def _load(self) -> dict[int, list[AnchorRecord]]:
        if self._by_feed is not None:
            return self._by_feed
        self._by_feed = {}
        address = self.address
        if address is None:
            return self._by_feed
        chain, ledger = self.ledger.chain, self.ledger
        challenged = {c.window_id: c for c in gateway.challenge_records(chain, ledger.reader, ledger.from_block,
                                                                         ledger.to_block)}
        for record in gateway.window_records(chain, ledger.reader, ledger.from_block, ledger.to_block):
            window = self._fetch(record)
            self.windows[record.window_id] = (record, window)
            if record.window_id in challenged:
                c = challenged[record.window_id]
                self.findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=c.feed_id, seq=c.seq,
                                                                            block=c.block, tx=c.tx_hash),
                                                f"window {record.window_id} of gateway {record.gateway} was "
                                                f"challenged on-chain by {c.challenger}: {c.fault}"))
            if window is not None:
                self._add(record, window, address)
        return self._by_feed

    def _fetch(self, record: gateway.WindowRecord) -> Window | None:
        cid = unpack(record.cid_digest, record.codec)
        loc = Location(block=record.block, tx=record.tx_hash, cid=cid)
        what = f"window {record.window_id} of gateway {record.gateway}"
        try:
            window = decode_window(self.store.cat(cid))
        except IntegrityError as exc:
            self.findings.append(Finding.of(Kind.TAMPERED, loc, f"{what}: stored bytes do not hash to the CID ({exc})"))
            return None
        except BlockNotFound:
            self.findings.append(Finding.of(Kind.MISSING_BLOCK, loc, f"{what}: the content is not in the store; "
                                            "its feeds' batches cannot be listed"))
            return None
        except IpfsError as exc:
            self.findings.append(store_unavailable(loc, exc))
            return None
        except WindowFormatError as exc:
            self.findings.append(Finding.of(Kind.UNDECODABLE, loc, f"{what}: {exc}"))
            return None
        if window.root != record.root:
            self.findings.append(Finding.of(Kind.TAMPERED, loc, f"{what}: its content gives root "
                                            f"0x{window.root.hex()}, the chain anchored 0x{record.root.hex()}"))
            return None
        return window

    def _add(self, record: gateway.WindowRecord, window: Window, address: str) -> None:
        assert self._by_feed is not None
        calls = []
        for leaf in window.leaves:
            self._by_feed.setdefault(leaf.feed_id, []).append(AnchorRecord(
                feed_id=leaf.feed_id, seq=leaf.seq, root=leaf.root, cid_digest=leaf.cid, count=leaf.count,
                t_first=leaf.t_first, t_last=leaf.t_last, head=leaf.head(), block=record.block,
                log_index=record.log_index, tx_hash=record.tx_hash))
            calls.append(AnchorCall(leaf.feed_id, leaf.seq, leaf.root, leaf.cid, leaf.count, leaf.t_first,
                                    leaf.t_last, bytes(leaf.signature)))
        self._txs[record.tx_hash] = AnchorTx(record.tx_hash, record.gateway, address, tuple(calls))
        self._places[record.tx_hash] = (record.window_id, window)


def check_leaf_signature(anchor: AnchorRecord, tx: AnchorTx, expected_key: str | None,
                         check: Callable[[], SignatureCheck]) -> SignatureCheck:
    """A window leaf's signature: `check()` (the per-feed check), except that no signature is a BAD_SIGNATURE."""
    call = tx.call_for(anchor.feed_id, anchor.seq)
    if call is not None and not call.signature:
        loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid, block=anchor.block, tx=anchor.tx_hash)
        f = Finding.of(Kind.BAD_SIGNATURE, loc, f"gateway {tx.sender} put this batch in a window without a device "
                       "signature")
        return SignatureCheck("invalid", tx.sender, None, expected_key, (f,))
    return check()

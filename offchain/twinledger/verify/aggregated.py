"""The gateway-aggregated mode seen by the verifier: every window on `GatewayAnchors`, its content fetched by
CID and checked against the anchored root, and its leaves turned into the same `AnchorRecord`s and anchoring
`AnchorTx`s the per-feed mode yields, so the `Verifier` checks both modes alike (head chain, seq continuity,
device signatures, batch content) and reports the same finding kinds.

A leaf's "anchoring transaction" is its window's: its sender is the gateway and its one call per leaf carries
the leaf's fields and device signature. An empty signature is a BAD_SIGNATURE here, never UNSIGNED: in this mode
no ANCHOR holder may stand in for the device. Window-level problems (content missing, tampered or undecodable,
a challenged window) are kept in `findings`.

A feed's batches are looked for only in windows mined from the block that registered it on: a leaf for a feed id
that did not exist yet is nobody's batch (no device key could have signed it for that feed), and skipping the
windows before spares the verifier of a new feed from decoding a long history of other feeds' windows.
`all_windows` (the challenger's view) still reads every window of the range.
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
    """The windows of one `Ledger` range, loaded on first use from the earliest block asked for; empty on a
    deployment without `GatewayAnchors`."""

    ledger: Ledger
    store: Any
    _by_feed: dict[int, list[AnchorRecord]] = field(default_factory=dict, repr=False)
    _loaded_from: int | None = field(default=None, repr=False)  # windows of [_loaded_from, to_block] are loaded
    _challenged: dict[int, gateway.ChallengeRecord] | None = field(default=None, repr=False)
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
        self._load(self.ledger.from_block)
        return self.windows

    def anchors(self, feed_id: int, since_block: int | None = None) -> list[AnchorRecord]:
        """The feed's batches in windows mined from `since_block` on (the range's start if None), as anchors in
        window order."""
        start = self.ledger.from_block if since_block is None else max(since_block, self.ledger.from_block)
        self._load(start)
        return [a for a in self._by_feed.get(feed_id, ()) if a.block >= start]

    def tx(self, tx_hash: str) -> AnchorTx | None:
        """The window transaction `tx_hash` as an anchoring transaction; None if it anchored no window that is
        loaded (every window anchor comes from `anchors`, which loaded its window)."""
        return self._txs.get(tx_hash)

    def place(self, anchor: AnchorRecord) -> tuple[int, Window, int] | None:
        """(window id, window, leaf index) of a batch anchored in a window; None for a per-feed anchor."""
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

    def _load(self, start: int) -> None:
        """Load the windows mined in [start, the block the range loaded from so far)."""
        if self._loaded_from is not None and self._loaded_from <= start:
            return
        end = self.ledger.to_block if self._loaded_from is None else self._loaded_from - 1
        self._loaded_from = start
        address = self.address
        if address is None or end < start:
            return
        chain, ledger = self.ledger.chain, self.ledger
        if self._challenged is None:  # challenges come after their window: read them over the whole range once
            self._challenged = {c.window_id: c for c in gateway.challenge_records(chain, ledger.reader,
                                                                                  ledger.from_block, ledger.to_block)}
        touched: set[int] = set()
        for record in gateway.window_records(chain, ledger.reader, start, end):
            window = self._fetch(record)
            self.windows[record.window_id] = (record, window)
            if record.window_id in self._challenged:
                c = self._challenged[record.window_id]
                self.findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=c.feed_id, seq=c.seq,
                                                                            block=c.block, tx=c.tx_hash),
                                                f"window {record.window_id} of gateway {record.gateway} was "
                                                f"challenged on-chain by {c.challenger}: {c.fault}"))
            if window is not None:
                touched |= self._add(record, window, address)
        for feed_id in touched:  # windows loaded later are older: keep each feed's list in window order
            self._by_feed[feed_id].sort(key=lambda a: (a.block, a.log_index))

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

    def _add(self, record: gateway.WindowRecord, window: Window, address: str) -> set[int]:
        """Index the window's leaves; returns the feeds it holds."""
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
        return {call.feed_id for call in calls}


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

"""Finding what can be proven against a gateway's windows, and proving it: the faults `GatewayAnchors` accepts as
challenges (a leaf its feed's device did not sign, two leaves of a feed that break its head chain, a leaf that
contradicts the feed's per-feed anchors), found in the windows' content and checked with the chain itself.

Each candidate is simulated with `eth_call` before it is reported as provable, so a fault listed here is one the
contract accepts now, and one that proves nothing is never sent. A window can be challenged once: the first
provable fault per window is the one offered. `twinledger gateway check [--challenge]` is the face of this.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from eth_utils import to_checksum_address
from web3.contract.contract import ContractFunction

from ..chain.errors import ContractRevert
from ..formats.aggregate import Window, WindowLeaf
from ..formats.eip712 import AnchorRecoverer
from ..formats.headchain import GENESIS_HEAD
from ..ledger import contracts, gateway
from ..ledger.reader import KeyChange, Ledger
from .aggregated import WindowIndex
from .signatures import key_at

class ChallengeKind(Enum):
    SIGNATURE = "signature"
    SEQUENCE = "sequence"
    AGAINST_FEED = "against-feed"


@dataclass(frozen=True)
class Challenge:
    """A fault in window `window_id` at leaf `index`; for a sequence fault, `earlier` is the other leaf's place."""

    kind: ChallengeKind
    window_id: int
    index: int
    feed_id: int
    seq: int
    reason: str
    earlier: tuple[int, int] | None = None  # (window id, leaf index) of the leaf this one breaks with


@dataclass(frozen=True)
class WindowFault:
    """A window's first fault: `challenge` (provable now), or `challenged_by` if the chain already marked it."""

    window_id: int
    gateway: str
    challenge: Challenge | None
    challenged_by: str | None = None


class ChallengeFinder:
    """Reads every window of the ledger's range (via `WindowIndex`) and lists the faults a challenge proves."""

    def __init__(self, ledger: Ledger, store: object, gateway_address: str | None = None) -> None:
        self.ledger = ledger
        self.index = WindowIndex(ledger, store)
        self.gateway = to_checksum_address(gateway_address) if gateway_address else None
        self._recoverer = AnchorRecoverer(ledger.chain_id, ledger.chain.feeds.address)
        self._key_histories: dict[int, list[KeyChange]] | None = None  # every feed's, read once
        self._feed_anchored: dict[int, bool] = {}
        self._seen: dict[tuple[int, int], tuple[int, int, WindowLeaf]] = {}  # (feed, seq) -> its first leaf

    def faults(self) -> list[WindowFault]:
        """One entry per window that holds a fault, in window order."""
        if self.index.address is None:
            return []
        challenged = {c.window_id: c for c in gateway.challenge_records(
            self.ledger.chain, self.ledger.reader, self.ledger.from_block, self.ledger.to_block)}
        out = []
        for window_id, (record, window) in sorted(self.index.all_windows().items()):
            if self.gateway is not None and record.gateway != self.gateway:
                continue
            if window_id in challenged:
                c = challenged[window_id]
                out.append(WindowFault(window_id, record.gateway, None, f"{c.challenger} ({c.fault})"))
                continue
            if window is None:
                continue  # content missing or not the anchored root: `verify` reports it; nothing to prove with
            found = next((c for c in self._candidates(record, window) if self._provable(c)), None)
            if found is not None:
                out.append(WindowFault(window_id, record.gateway, found))
        return out

    def transaction(self, challenge: Challenge) -> ContractFunction:
        """The challenge transaction for `challenge`."""
        chain = self.ledger.chain
        window = self._window(challenge.window_id)
        if challenge.kind is ChallengeKind.SIGNATURE:
            return gateway.challenge_signature(chain, challenge.window_id, window, challenge.index)
        if challenge.kind is ChallengeKind.AGAINST_FEED:
            return gateway.challenge_against_feed(chain, challenge.window_id, window, challenge.index)
        assert challenge.earlier is not None
        earlier_id, earlier_index = challenge.earlier
        return gateway.challenge_sequence(chain, earlier_id, self._window(earlier_id), earlier_index,
                                          challenge.window_id, window, challenge.index)

    # -- candidates ----------------------------------------------------------------------------

    def _candidates(self, record: gateway.WindowRecord, window: Window) -> list[Challenge]:
        """Every fault this window's leaves show, in leaf order; each leaf then joins the feeds' index."""
        found: list[Challenge] = []
        window_id = record.window_id
        for i, leaf in enumerate(window.leaves):
            reason = self._signature_problem(leaf, (record.block, record.log_index))
            if reason is not None:
                found.append(Challenge(ChallengeKind.SIGNATURE, window_id, i, leaf.feed_id, leaf.seq, reason))
            found += self._sequence_breaks(window_id, i, leaf)
            reason = self._feed_conflict(leaf)
            if reason is not None:
                found.append(Challenge(ChallengeKind.AGAINST_FEED, window_id, i, leaf.feed_id, leaf.seq, reason))
            self._seen.setdefault((leaf.feed_id, leaf.seq), (window_id, i, leaf))
        return found

    def _signature_problem(self, leaf: WindowLeaf, position: tuple[int, int]) -> str | None:
        """Whether the leaf's signer is not the feed's device key in force when the window was anchored.

        The contract judges with the current key and refuses a window anchored before its last rotation
        (`KeyRotatedSinceWindow`); the key history here names the key each window was bound to (docs/security.md)."""
        expected = key_at(self._key_history(leaf.feed_id), position)
        if expected is None:
            return "its feed is unknown or has no device key"
        try:
            signer = self._recoverer.recover(leaf.message(), bytes(leaf.signature))
        except ValueError as exc:
            return f"its signature is not one: {exc}"
        return None if signer == expected else f"signed by {signer}, the feed's device key is {expected}"

    def _sequence_breaks(self, window_id: int, index: int, leaf: WindowLeaf) -> list[Challenge]:
        """The earlier leaves of the same feed (in window order) this leaf breaks the head chain with."""
        found = []
        same = self._seen.get((leaf.feed_id, leaf.seq))
        if same is not None and same[2].head() != leaf.head():
            found.append(Challenge(ChallengeKind.SEQUENCE, window_id, index, leaf.feed_id, leaf.seq,
                                   f"seq {leaf.seq} again with another head (first in window {same[0]})",
                                   (same[0], same[1])))
        before = self._seen.get((leaf.feed_id, leaf.seq - 1))
        if before is not None and before[2].head() != leaf.prev_head:
            found.append(Challenge(ChallengeKind.SEQUENCE, window_id, index, leaf.feed_id, leaf.seq,
                                   f"its previous head is not the head of seq {leaf.seq - 1} (window {before[0]})",
                                   (before[0], before[1])))
        return found

    def _feed_conflict(self, leaf: WindowLeaf) -> str | None:
        if leaf.seq == 0 and leaf.prev_head != GENESIS_HEAD:
            return "seq 0 on a previous head other than genesis"
        if not self._has_feed_anchors(leaf.feed_id):
            return None
        chain, block = self.ledger.chain, self.ledger.to_block
        if leaf.seq > 0:
            before = contracts.head_at(chain, leaf.feed_id, leaf.seq - 1, block)
            if before != GENESIS_HEAD and before != leaf.prev_head:
                return f"its previous head is not SensorFeed's head of seq {leaf.seq - 1}"
        stored = contracts.head_at(chain, leaf.feed_id, leaf.seq, block)
        if stored != GENESIS_HEAD and stored != leaf.head():
            return f"SensorFeed anchored another batch as seq {leaf.seq}"
        return None

    # -- the chain's word --------------------------------------------------------------------

    def _provable(self, challenge: Challenge) -> bool:
        """Whether the contract accepts the challenge now (simulated; nothing is sent)."""
        try:
            contracts.read(self.ledger.chain, self.transaction(challenge), self.ledger.to_block)
        except ContractRevert:
            return False
        return True

    def _key_history(self, feed_id: int) -> list[KeyChange]:
        if self._key_histories is None:  # one log query for all feeds: a window may carry thousands
            self._key_histories = self.ledger.key_histories()
        return self._key_histories.get(feed_id, [])

    def _has_feed_anchors(self, feed_id: int) -> bool:
        """Whether `SensorFeed` holds per-feed anchors of the feed (else no leaf can conflict with them)."""
        if feed_id not in self._feed_anchored:
            try:
                self._feed_anchored[feed_id] = contracts.next_seq_of(self.ledger.chain, feed_id,
                                                                     self.ledger.to_block) > 0
            except ContractRevert:
                self._feed_anchored[feed_id] = False
        return self._feed_anchored[feed_id]

    def _window(self, window_id: int) -> Window:
        window = self.index.all_windows()[window_id][1]
        assert window is not None, f"window {window_id} has no content to prove with"
        return window

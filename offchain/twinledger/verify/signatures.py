"""Device signatures on anchors: recover the EIP-712 signer and compare it with the feed's device key."""
from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass


from ..formats.eip712 import AnchorMessage, AnchorRecoverer
from ..ledger.reader import AnchorRecord, AnchorTx, KeyChange
from .findings import Finding, Kind, Location


# ---------------------------------------------------------------------------------------------
# Signatures


@dataclass(frozen=True)
class SignatureCheck:
    """Who anchored a batch and how."""

    status: str  # signed | unsigned | unavailable | invalid | wrong
    sender: str | None
    signer: str | None
    expected: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def label(self) -> str:
        if self.status == "signed":
            return f"signed by device key {self.signer}"
        if self.status == "unsigned":
            return f"unsigned (anchored by permitted account {self.sender})"
        if self.status == "wrong":
            return f"signed by {self.signer}, expected {self.expected}"
        return self.status


def key_at(history: Sequence[KeyChange], position: tuple[int, int]) -> str | None:
    """The device key in force just before the event at `position` (block, log index)."""
    positions = [c.position for c in history]
    i = bisect.bisect_left(positions, position)
    return history[i - 1].key if i > 0 else None


def check_signature(anchor: AnchorRecord, prev_head: bytes, tx: AnchorTx, expected_key: str | None,
                    recoverer: AnchorRecoverer, *, trusted_keys: frozenset[str] | None = None,
                    anchorer_permitted: Callable[[str], bool] | None = None) -> SignatureCheck:
    """Checks the signature in `tx`'s calldata for `anchor` (pure apart from `anchorer_permitted`)."""
    loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid, block=anchor.block, tx=anchor.tx_hash)
    call = tx.call_for(anchor.feed_id, anchor.seq)
    if call is None:
        f = Finding.of(Kind.SIGNATURE_UNAVAILABLE, loc, f"the anchoring transaction (from {tx.sender} to {tx.to}) "
                       "does not call SensorFeed.anchor/anchorMany directly; no signature in its calldata")
        return SignatureCheck("unavailable", tx.sender, None, expected_key, (f,))
    findings: list[Finding] = []
    fields = (call.root, call.cid_digest, call.count, call.t_first, call.t_last)
    if fields != (anchor.root, anchor.cid_digest, anchor.count, anchor.t_first, anchor.t_last):
        findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "the calldata of the anchoring transaction differs "
                                   "from the Anchored event"))
    if not call.signature:
        permitted = anchorer_permitted(tx.sender) if anchorer_permitted else True
        if permitted:
            findings.append(Finding.of(Kind.UNSIGNED, loc, f"unsigned (anchored by permitted account {tx.sender})"))
        else:
            findings.append(Finding.of(Kind.UNAUTHORIZED, loc, f"unsigned, and {tx.sender} held no ANCHOR permission"))
        return SignatureCheck("unsigned", tx.sender, None, expected_key, tuple(findings))
    message = AnchorMessage(anchor.feed_id, anchor.seq, prev_head, anchor.root, anchor.cid_digest, anchor.count,
                            anchor.t_first, anchor.t_last)
    try:
        signer = recoverer.recover(message, bytes(call.signature))
    except ValueError as exc:
        findings.append(Finding.of(Kind.BAD_SIGNATURE, loc, str(exc)))
        return SignatureCheck("invalid", tx.sender, None, expected_key, tuple(findings))
    if expected_key is None or signer != expected_key:
        findings.append(Finding.of(Kind.WRONG_SIGNER, loc, f"signed by {signer}, but the feed's device key at that "
                                   f"point was {expected_key}"))
        return SignatureCheck("wrong", tx.sender, signer, expected_key, tuple(findings))
    if trusted_keys is not None and signer not in trusted_keys:
        findings.append(Finding.of(Kind.WRONG_SIGNER, loc, f"signed by {signer}, the feed's key then, which is not "
                                   f"one of the trusted device keys ({', '.join(sorted(trusted_keys))})"))
        return SignatureCheck("wrong", tx.sender, signer, expected_key, tuple(findings))
    return SignatureCheck("signed", tx.sender, signer, expected_key, tuple(findings))

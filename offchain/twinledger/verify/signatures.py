"""Device signatures on anchors: recover the EIP-712 signer and compare it with the feed's device key."""
from __future__ import annotations

import bisect
import gc
import time
from array import array
from contextlib import contextmanager
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Protocol

import coincurve
from eth_utils import to_checksum_address

from ..crypto.context import Context, Subject
from ..crypto.envelope import open_envelope
from ..crypto.errors import CryptoError
from ..crypto.payload import SealedHeader, open_sealed, read_header
from ..formats import cids
from ..formats.batch import Batch, BatchFormatError, Reading, decode_batch, encode_reading
from ..formats.eip712 import AnchorMessage, domain_separator
from ..formats.headchain import GENESIS_HEAD, next_head
from ..formats.merkle import MerkleTree, keccak256, verify as merkle_verify
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from ..ledger.reader import ANCHOR_PERMISSION, AnchorRecord, AnchorTx, FeedState, KeyChange, Ledger, StoredVersion, word
from .findings import Finding, Kind, Location


# ---------------------------------------------------------------------------------------------
# Signatures


class AnchorRecoverer:
    """Recovers anchor signers fast: the domain separator once, then keccak + secp256k1 recovery
    (eth-account's typed-data path costs ~1 ms per signature, too slow for long feeds)."""

    def __init__(self, chain_id: int, contract: str) -> None:
        self.separator = domain_separator(chain_id, contract)

    def recover(self, message: AnchorMessage, signature: bytes) -> str:
        if len(signature) != 65:
            raise ValueError(f"an anchor signature is 65 bytes, got {len(signature)}")
        v = signature[64]
        v = v - 27 if v in (27, 28) else v
        if v not in (0, 1):
            raise ValueError(f"signature v must be 27 or 28, got {signature[64]}")
        digest = keccak256(b"\x19\x01" + self.separator + message.struct_hash())
        try:
            pub = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
        except Exception as exc:  # noqa: BLE001 - coincurve raises plain Exception
            raise ValueError(f"no signer recoverable: {exc}") from None
        return to_checksum_address(keccak256(pub.format(compressed=False)[1:])[12:])


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

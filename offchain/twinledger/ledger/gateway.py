"""Gateway-aggregated anchors on `GatewayAnchors`: the typed views, the transactions (anchoring a window,
the three challenges, granting the gateway role) and the `WindowAnchored`/`WindowChallenged` events.

This is the only module that calls `GatewayAnchors` functions; docs/formats.md section 9 defines windows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import BlockIdentifier

from ..chain.connection import TwinLedgerChain
from ..chain.logs import LogReader
from ..formats.aggregate import Window, WindowLeaf
from .contracts import read, read_many
from .names import GATEWAY_ROLE, GatewayFault

CONTRACT = "GatewayAnchors"
WINDOW_ANCHORED = HexBytes(keccak(text="WindowAnchored(uint256,address,bytes32,bytes32,uint16,uint32,uint64)"))
WINDOW_CHALLENGED = HexBytes(keccak(text="WindowChallenged(uint256,address,uint256,uint64,uint8,address)"))
FAULTS = {GatewayFault.ForgedSignature: "forged signature", GatewayFault.UnknownFeed: "unknown feed",
          GatewayFault.DuplicateSeq: "duplicate seq", GatewayFault.BrokenHeadChain: "broken head chain",
          GatewayFault.ConflictsWithFeed: "conflicts with the per-feed anchors"}


def has_gateway(chain: TwinLedgerChain) -> bool:
    """Whether the deployment carries a `GatewayAnchors` contract (older deployment files do not)."""
    return CONTRACT in chain.deployment.contracts


def gateways(chain: TwinLedgerChain) -> Contract:
    return chain.contract(CONTRACT)


# ---- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowView:
    """`GatewayAnchors.window(id)`."""

    window_id: int
    root: bytes
    gateway: str
    anchored_at: int
    challenged: bool


def window(chain: TwinLedgerChain, window_id: int, block: BlockIdentifier | None = None) -> WindowView:
    return _window_view(window_id, read(chain, gateways(chain).functions.window(window_id), block))


def windows(chain: TwinLedgerChain, window_ids: Sequence[int], block: BlockIdentifier | None = None) -> list[WindowView]:
    """`window` of each of `window_ids`, in one JSON-RPC batch."""
    views = read_many(chain, gateways(chain), "window", [[i] for i in window_ids], block)
    return [_window_view(i, v) for i, v in zip(window_ids, views)]


def _window_view(window_id: int, v: Any) -> WindowView:
    return WindowView(window_id, bytes(v[0]), to_checksum_address(v[1]), int(v[2]), bool(v[3]))


def window_count(chain: TwinLedgerChain, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, gateways(chain).functions.windowCount(), block))


def gateway_faults(chain: TwinLedgerChain, gateway: str, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, gateways(chain).functions.gatewayFaults(to_checksum_address(gateway)), block))


def verify_reading(chain: TwinLedgerChain, window_id: int, leaf: WindowLeaf, batch_proof: Sequence[bytes],
                   reading_hash: bytes, reading_proof: Sequence[bytes], block: BlockIdentifier | None = None) -> bool:
    """`GatewayAnchors.verifyReading`: the two-level proof, reading -> batch root -> window root."""
    fn = gateways(chain).functions.verifyReading(window_id, leaf.as_struct(), list(batch_proof), reading_hash,
                                                 list(reading_proof))
    return bool(read(chain, fn, block))


def verify_leaf(chain: TwinLedgerChain, window_id: int, leaf: WindowLeaf, proof: Sequence[bytes],
                block: BlockIdentifier | None = None) -> bool:
    return bool(read(chain, gateways(chain).functions.verifyLeaf(window_id, leaf.as_struct(), list(proof)), block))


# ---- transactions --------------------------------------------------------------------------


def grant_gateway(chain: TwinLedgerChain, account: str) -> ContractFunction:
    """The admin lets `account` anchor windows."""
    return gateways(chain).functions.grantRole(GATEWAY_ROLE, to_checksum_address(account))


def anchor_window(chain: TwinLedgerChain, win: Window, cid_digest: bytes, codec: int) -> ContractFunction:
    return gateways(chain).functions.anchorWindow(win.root, cid_digest, codec, len(win.leaves), win.reading_count)


def challenge_signature(chain: TwinLedgerChain, window_id: int, win: Window, index: int) -> ContractFunction:
    leaf = win.leaves[index]
    return gateways(chain).functions.challengeSignature(window_id, leaf.as_struct(), win.proof(index),
                                                        bytes(leaf.signature))


def challenge_sequence(chain: TwinLedgerChain, window_a: int, win_a: Window, index_a: int, window_b: int,
                       win_b: Window, index_b: int) -> ContractFunction:
    return gateways(chain).functions.challengeSequence(window_a, win_a.leaves[index_a].as_struct(),
                                                       win_a.proof(index_a), window_b,
                                                       win_b.leaves[index_b].as_struct(), win_b.proof(index_b))


def challenge_against_feed(chain: TwinLedgerChain, window_id: int, win: Window, index: int) -> ContractFunction:
    return gateways(chain).functions.challengeAgainstFeed(window_id, win.leaves[index].as_struct(), win.proof(index))


# ---- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One `WindowAnchored` event and where it was logged."""

    window_id: int
    gateway: str
    root: bytes
    cid_digest: bytes
    codec: int
    feed_count: int
    reading_count: int
    block: int
    log_index: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """One `WindowChallenged` event."""

    window_id: int
    gateway: str
    feed_id: int
    seq: int
    fault: str
    challenger: str
    block: int
    tx_hash: str


def _fault(value: int) -> str:
    try:
        return FAULTS[GatewayFault(value)]
    except (ValueError, KeyError):
        return f"fault {value}"


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i:32 * i + 32], "big")


def _address(topic: bytes) -> str:
    return to_checksum_address(bytes(topic)[12:])


def window_records(chain: TwinLedgerChain, reader: LogReader, from_block: int, to_block: int) -> list[WindowRecord]:
    """Every window anchored in the block range, in log order."""
    out = []
    for log in reader.logs(gateways(chain).address, [WINDOW_ANCHORED], from_block, to_block):
        t, data = log["topics"], bytes(log["data"])
        out.append(WindowRecord(int.from_bytes(t[1], "big"), _address(t[2]), data[0:32], data[32:64], _word(data, 2),
                                _word(data, 3), _word(data, 4), int(log["blockNumber"]), int(log["logIndex"]),
                                HexBytes(log["transactionHash"]).to_0x_hex()))
    return out


def challenge_records(chain: TwinLedgerChain, reader: LogReader, from_block: int,
                      to_block: int) -> list[ChallengeRecord]:
    """Every successful challenge in the block range, in log order."""
    out = []
    for log in reader.logs(gateways(chain).address, [WINDOW_CHALLENGED], from_block, to_block):
        t, data = log["topics"], bytes(log["data"])
        out.append(ChallengeRecord(int.from_bytes(t[1], "big"), _address(t[2]), int.from_bytes(t[3], "big"),
                                   _word(data, 0), _fault(_word(data, 1)),
                                   to_checksum_address(data[64 + 12:96]), int(log["blockNumber"]),
                                   HexBytes(log["transactionHash"]).to_0x_hex()))
    return out


def receipt_window_id(chain: TwinLedgerChain, receipt: Any) -> int:
    """The window id a mined `anchorWindow` receipt logged."""
    address = gateways(chain).address.lower()
    for log in receipt["logs"]:
        if str(log["address"]).lower() == address and bytes(log["topics"][0]) == bytes(WINDOW_ANCHORED):
            return int.from_bytes(log["topics"][1], "big")
    raise LookupError("the receipt logged no WindowAnchored event")

"""Helpers of the verifier tests: a twin from the sample AML on a real anvil chain and embedded IPFS,
feeds with synthetic batches anchored the way the agent does it (agent/publish.py), and ways to
damage the stored history. Unique module name: the test folders have no __init__.py."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from twinledger.agent.gateway import publish_window
from twinledger.agent.publish import PreparedAnchor, prepare_anchor, store_batch
from twinledger.chain.connection import TwinLedgerChain
from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack
from twinledger.formats.aml import TwinSpec
from twinledger.ledger.reader import Ledger
from twinledger.ledger.provision import create_twin_from_aml, register_feed
from twinledger.verify import Verifier
from twinledger.formats.batch import Batch, Quality, Reading, encode_batch
from twinledger.formats.headchain import GENESIS_HEAD
from twinledger.ipfs import EmbeddedStore, parse_cid

ROOT = Path(__file__).resolve().parents[2]
PLANT_AML = ROOT / "examples" / "bottling-plant.aml"
OWNER, GATEWAY, INSIDER = 1, 6, 3
DEVICE_KEY = "0x" + "d3" * 32
T0 = 1_736_931_600_000
SENSORS = ("tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level")


def synthetic_batch(feed: int, seq: int, n: int = 20, *, t0: int | None = None, rid0: int | None = None,
                    step_ms: int = 50, flag_every: int = 0) -> Batch:
    t0 = T0 + seq * n * step_ms if t0 is None else t0
    rid0 = seq * n if rid0 is None else rid0
    readings = tuple(
        Reading(rid0 + i, "level", t0 + i * step_ms, 50.0 + (i % 7) * 0.5,
                int(Quality.SPIKE) if flag_every and i % flag_every == 0 else 0)
        for i in range(n))
    return Batch(feed, seq, readings)


@dataclass
class FeedWriter:
    """Anchors batches on one feed and remembers what it anchored."""

    chain: TwinLedgerChain
    store: EmbeddedStore
    feed: int
    device: LocalAccount | None
    head: bytes = GENESIS_HEAD
    anchors: list[PreparedAnchor] = field(default_factory=list)

    @property
    def next_seq(self) -> int:
        return len(self.anchors)

    def anchor(self, batch: Batch, *, root: bytes | None = None, key: str | None = None, unsigned: bool = False,
               chain: TwinLedgerChain | None = None, data: bytes | None = None) -> PreparedAnchor:
        cid = store_batch(self.store, data if data is not None else encode_batch(batch))
        signer = None if unsigned else (key or self.device.key)
        p = prepare_anchor(batch, cid, self.head, signer, self.chain.w3.eth.chain_id, self.chain.feeds.address,
                           root=root)
        sender = chain or self.chain
        sender.sender.transact(sender.feeds.functions.anchor(*p.anchor_args()))
        self.head = p.head
        self.anchors.append(p)
        return p

    def anchor_many(self, n_batches: int, n_readings: int = 20, **kw) -> list[PreparedAnchor]:
        return [self.anchor(synthetic_batch(self.feed, self.next_seq, n_readings, **kw)) for _ in range(n_batches)]


@dataclass
class World:
    stack: DevStack
    owner: TwinLedgerChain
    store: EmbeddedStore
    twin: int
    components: dict[str, bytes]
    device: LocalAccount
    spec: TwinSpec

    def new_twin(self) -> int:
        return create_twin_from_aml(self.owner, self.store, PLANT_AML).twin_id

    def new_feed(self, sensor: str = "tank_level_a", twin: int | None = None) -> FeedWriter:
        twin = self.twin if twin is None else twin
        feed = register_feed(self.owner, twin, self.components[sensor], self.device.address)
        return FeedWriter(self.owner, self.store, feed, self.device)

    def chain(self, account: int | None = None) -> TwinLedgerChain:
        return self.stack.chain(account)

    def verifier(self, **kw) -> Verifier:
        return Verifier(Ledger(self.stack.chain()), self.stack.store(), **kw)

    def block_path(self, cid: str) -> Path:
        """The file the embedded store keeps a block in (to damage it)."""
        return Path(self.store._block_path(parse_cid(cid)))

    def flip_byte(self, cid: str, offset: int = 40) -> None:
        path = self.block_path(cid)
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))

    def delete_block(self, cid: str) -> None:
        self.block_path(cid).unlink()

    def grant(self, twin: int, role: str, account: int) -> None:
        self.owner.sender.transact(self.owner.auth.functions.grantTwinRole(twin, keccak(text=role),
                                                                       test_account(account).address))

    def call_first_program(self) -> int:
        """Calls the sample twin's first program with its lowest allowed parameters; returns the call id."""
        program = self.spec.programs[0]
        params = [p.bounds.scaled_min for p in program.params]
        self.owner.sender.transact(self.owner.spec.functions.callProgram(self.twin, program.component_id,
                                                                         program.program_id, params))
        return self.owner.spec.functions.callCount().call()


def make_world(workdir: Path) -> World:
    stack = DevStack(workdir / "stack").start()
    owner = stack.chain(OWNER)
    store = stack.store()
    provisioned = create_twin_from_aml(owner, store, PLANT_AML)
    components = {s: provisioned.spec.component(s).component_id for s in SENSORS}
    return World(stack, owner, store, provisioned.twin_id, components, Account.from_key(DEVICE_KEY), provisioned.spec)


class GatewayFeeds:
    """Batches of several feeds, device-signed and stored, tracked per feed as a gateway tracks them."""

    def __init__(self, world: World, n: int, gateway: int = GATEWAY) -> None:
        self.world = world
        self.gw = world.chain(gateway)
        self.feeds = [world.new_feed(sensor).feed for sensor in ("tank_level_a", "pipe_flow", "bottle_level")[:n]]
        self.heads = {f: GENESIS_HEAD for f in self.feeds}
        self.seqs = {f: 0 for f in self.feeds}

    def batch(self, feed: int, *, key: str | None = None, prev_head: bytes | None = None,
              unsigned: bool = False, seq: int | None = None, readings: int = 20) -> PreparedAnchor:
        """The feed's next batch; with `seq`, a batch at that seq that the tracked chain does not take."""
        tracked = seq is None
        seq = self.seqs[feed] if seq is None else seq
        b = synthetic_batch(feed, seq, readings)
        cid = store_batch(self.world.store, encode_batch(b))
        signer = None if unsigned else (key or self.world.device.key)
        p = prepare_anchor(b, cid, self.heads[feed] if prev_head is None else prev_head, signer,
                           self.gw.w3.eth.chain_id, self.gw.feeds.address)
        if tracked:
            self.heads[feed], self.seqs[feed] = p.head, seq + 1
        return p

    def window(self, *prepared: PreparedAnchor) -> tuple[int, object]:
        return publish_window(self.gw, self.world.store, prepared)

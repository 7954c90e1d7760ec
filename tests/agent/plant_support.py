"""A provisioned bottling plant on a real anvil chain and embedded IPFS store, for the agent's
end-to-end and crash tests: the twin from examples/bottling-plant.aml, an owner, a device agent
account holding DEVICE_AGENT and MAINTAINER, one feed per sensor, and a config writer."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from eth_utils import keccak

from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack
from twinledger.ledger.provision import create_twin_from_aml, register_feed

ROOT = Path(__file__).resolve().parents[2]
PLANT_AML = ROOT / "examples" / "bottling-plant.aml"
OWNER, AGENT, DEVICE = 1, 6, 7
SENSORS = ("tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level")


@dataclass
class Plant:
    stack: DevStack
    twin: int
    feeds: dict[str, int]
    components: dict[str, str]  # sensor -> AML id
    workdir: Path
    mining: str = "automine"  # or "interval" (set_mining)

    def config(self, name: str = "agent", *, source: dict, ipfs: str | None = None, rpc_url: str | None = None,
               window_s: float = 0.5, confirmations: int = 0, **extra) -> Path:
        """Write an agent config file and return its path."""
        data = {
            "twin_id": self.twin,
            "device_key_file": str(self.workdir / "device.key"),
            "account_key_file": str(self.workdir / "agent.key"),
            "outbox_path": str(self.workdir / name / "outbox.sqlite"),
            "ipfs": ipfs or self.stack.ipfs_spec,
            "chain": {"rpc_url": rpc_url or self.stack.rpc_url, "deployment_file": str(self.stack.deployment_path),
                      "confirmations": confirmations, "poll_interval_s": 0.2},
            "feeds": {s: {"feed_id": f, "component": self.components[s]} for s, f in self.feeds.items()},
            "batching": {"window_s": window_s},
            "source": source,
            **extra,
        }
        (self.workdir / name).mkdir(parents=True, exist_ok=True)
        path = self.workdir / name / "agent.json"
        path.write_text(json.dumps(data, indent=1))
        return path


def provision_plant(workdir: Path, state_file: Path | None = None) -> Plant:
    stack = DevStack(workdir / "stack", state_file=state_file).start()
    owner = stack.chain(OWNER)
    store = stack.store()
    twin = create_twin_from_aml(owner, store, PLANT_AML)
    agent = test_account(AGENT)
    for role in ("DEVICE_AGENT", "MAINTAINER"):
        owner.sender.transact(owner.auth.functions.grantTwinRole(twin.twin_id, keccak(text=role), agent.address))
    device = test_account(DEVICE)
    feeds, components = {}, {}
    for sensor in SENSORS:
        component = twin.spec.component(sensor)
        feeds[sensor] = register_feed(owner, twin.twin_id, component.component_id, device.address)
        components[sensor] = component.aml_id
    (workdir / "device.key").write_text(device.key.hex())
    (workdir / "agent.key").write_text(agent.key.hex())
    return Plant(stack, twin.twin_id, feeds, components, workdir)


# -- a chain with a real block time, so that several anchoring transactions are in flight -------

MINING = ("automine", "interval")  # what the agent's durability tests run on
INTERVAL_BLOCK_S = 2


def set_mining(plant: Plant, mining: str) -> None:
    """`interval`: after provisioning, anvil mines a block every INTERVAL_BLOCK_S instead of one per transaction."""
    if mining == "interval":
        w3 = plant.stack.chain(None).w3
        w3.provider.make_request("evm_setAutomine", [False])
        w3.provider.make_request("evm_setIntervalMining", [INTERVAL_BLOCK_S])
    plant.mining = mining


def agent_txs_in_pool(plant: Plant) -> dict[int, str]:
    """nonce -> hash of the agent account's transactions sent and not yet mined (anvil's pool)."""
    from twinledger.chain.devnet import test_account

    pool = plant.stack.chain(None).w3.provider.make_request("txpool_content", [])["result"]
    address = test_account(AGENT).address.lower()
    mine = {k.lower(): v for k, v in pool.get("pending", {}).items()}.get(address, {})
    return {int(nonce): tx["hash"] for nonce, tx in mine.items()}


# -- an independent oracle: what the chain and IPFS alone say was anchored -----------------------

@dataclass(frozen=True)
class AnchoredFeed:
    feed: int
    seqs: list[int]
    rids: list[int]  # every reading id, in anchoring order (duplicates kept, so tests can see them)
    head: bytes


def settled_block(plant: Plant) -> int:
    """The newest block whose events and state a read can pin. While anvil mines a block, a read at its
    newest block can see the state of the block being mined (seen: `headOf` at block N answered with block
    N+1's head, and right after with N's). So on interval mining this waits for the next block and pins
    the one before it. On automine or manual mining a block comes only from a request: callers read
    after their sender has stopped, so the newest block is settled."""
    w3 = plant.stack.chain(None).w3
    newest = w3.eth.block_number
    interval = w3.provider.make_request("anvil_getIntervalMining", [])["result"]
    if not interval:
        return newest
    deadline = time.monotonic() + 3 * int(interval) + 5
    while w3.eth.block_number <= newest:
        assert time.monotonic() < deadline, f"no block after {newest} although the chain mines every {interval} s"
        time.sleep(0.05)
    return newest


def anchored_feed(plant: Plant, feed: int, block: int | None = None) -> AnchoredFeed:
    """Re-read a feed from events and IPFS at `block` (`settled_block` if None), checking each batch's
    CID, Merkle root and the head chain."""
    from twinledger.formats.batch import decode_batch
    from twinledger.formats.cids import raw_cid_from_digest
    from twinledger.formats.headchain import GENESIS_HEAD, next_head
    from twinledger.agent.publish import merkle_tree

    chain, store = plant.stack.chain(), plant.stack.store()
    block = settled_block(plant) if block is None else block  # events and head at one block
    events = chain.feeds.events.Anchored.get_logs(from_block=0, to_block=block, argument_filters={"feedId": feed})
    head, seqs, rids = GENESIS_HEAD, [], []
    for event in sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"])):
        a = event["args"]
        batch = decode_batch(store.block_get(raw_cid_from_digest(a["cid"])))  # block_get checks the hash
        assert (batch.feed, batch.seq) == (feed, a["seq"]), "batch content does not match its anchor"
        assert merkle_tree(batch).root == bytes(a["root"]), f"feed {feed} seq {a['seq']}: root mismatch"
        head = next_head(head, feed, a["seq"], a["root"], a["cid"], a["count"], a["tFirst"], a["tLast"])
        assert head == bytes(a["head"]), f"feed {feed} seq {a['seq']}: head chain broken"
        seqs.append(a["seq"])
        rids.extend(r.rid for r in batch.readings)
    on_chain = bytes(chain.feeds.functions.headOf(feed).call(block_identifier=block))
    assert head == on_chain, f"feed {feed} at block {block}: the events chain to {head.hex()}, headOf is {on_chain.hex()}"
    return AnchoredFeed(feed, seqs, rids, head)


def outbox_rids(path: Path) -> dict[int, list[int]]:
    """feed -> every accepted reading id in the outbox (read-only, straight from SQLite)."""
    import sqlite3

    db = sqlite3.connect(path)  # not mode=ro: a WAL database needs its -shm file, which ro cannot create
    try:
        out: dict[int, list[int]] = {}
        for feed, rid in db.execute("SELECT feed, rid FROM readings ORDER BY rid"):
            out.setdefault(feed, []).append(rid)
        return out
    finally:
        db.close()


def assert_nothing_lost(plant: Plant, outbox: Path) -> int:
    """Every accepted reading is anchored exactly once, and every feed's seqs are 0..n-1."""
    accepted = outbox_rids(outbox)
    total = 0
    block = settled_block(plant)
    for feed, rids in accepted.items():
        anchored = anchored_feed(plant, feed, block)
        assert anchored.seqs == list(range(len(anchored.seqs))), f"feed {feed}: seqs {anchored.seqs}"
        assert len(anchored.rids) == len(set(anchored.rids)), f"feed {feed}: a reading was anchored twice"
        missing = set(rids) - set(anchored.rids)
        assert not missing, f"feed {feed}: {len(missing)} accepted readings never anchored"
        total += len(rids)
    return total

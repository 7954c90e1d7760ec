"""What the agent checks against the chain before it sends anything: that its outbox belongs to this
chain (chain id, genesis hash, deployment), and that every configured feed is the one the chain
knows (same twin, same component, and the device key the chain expects signs it). A config without
``feeds`` takes them from the chain (``discover_feeds``): the twin's active feeds signed by this device.

Each refusal is one line that says what to do (`AgentRefused`, `ForeignChain`).
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.deployment import Deployment
from ..chain.errors import ContractRevert
from ..errors import TwinLedgerError
from ..formats.aml import TwinSpec, component_id_of
from ..ledger import contracts
from ..ledger.events import EventReader
from ..ledger.names import FeedStatus
from .outbox import Outbox

__all__ = ["AgentRefused", "ChainIdentity", "FeedCheck", "ForeignChain", "archive_outbox", "bind_chain",
           "check_feeds", "discover_feeds", "identity_of"]

log = structlog.get_logger(__name__)
ZERO_ADDRESS = "0x" + "00" * 20


class AgentRefused(TwinLedgerError, RuntimeError):
    """The agent will not start (or ends non-zero): its config or outbox disagrees with the chain."""


class ForeignChain(AgentRefused):
    """The outbox was written for another chain or deployment."""


@dataclass(frozen=True)
class ChainIdentity:
    """What tells one chain (and one deployment on it) from another; recorded in the outbox's meta."""

    chain_id: int
    genesis_hash: str
    contracts: Mapping[str, str]   # contract name -> address

    def describe(self) -> str:
        feed = self.contracts.get("SensorFeed", "?")
        return f"chain {self.chain_id} (genesis {self.genesis_hash[:12]}…, SensorFeed {feed})"


def identity_of(chain: TwinLedgerChain, deployment: Deployment) -> ChainIdentity:
    genesis = chain.w3.eth.get_block(0)["hash"]
    return ChainIdentity(int(chain.w3.eth.chain_id), "0x" + bytes(genesis).hex(),
                         {name: c.address.lower() for name, c in sorted(deployment.contracts.items())})


_META_KEYS = ("chain_id", "genesis_hash", "deployment")


def bind_chain(outbox: Outbox, identity: ChainIdentity) -> None:
    """Record ``identity`` in a new outbox, or refuse one written for another chain or deployment.

    An outbox written before identities were recorded is bound to the chain it is first opened with."""
    with outbox.transaction() as db:
        rows = dict(db.execute(f"SELECT key, value FROM meta WHERE key IN ({','.join('?' * len(_META_KEYS))})",
                               _META_KEYS).fetchall())
        if not rows:
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", _meta_rows(identity))
            log.info("outbox bound to chain", chain=identity.describe())
            return
    recorded = ChainIdentity(int(rows["chain_id"]), rows["genesis_hash"], json.loads(rows["deployment"]))
    if recorded != identity:
        raise ForeignChain(
            f"outbox {outbox.path} belongs to {recorded.describe()}, but the agent is connected to "
            f"{identity.describe()}: archive it with `twinledger agent archive-outbox --outbox {outbox.path}` "
            "and start again")


def _meta_rows(identity: ChainIdentity) -> list[tuple[str, str]]:
    return [("chain_id", str(identity.chain_id)), ("genesis_hash", identity.genesis_hash),
            ("deployment", json.dumps(dict(identity.contracts), sort_keys=True))]


def archive_outbox(path: Path) -> Path:
    """Move an outbox (its WAL folded in first) aside to ``<name>.archived-<UTC time>``; returns the new path."""
    path = Path(path)
    if not path.exists():
        raise AgentRefused(f"no outbox at {path}: nothing to archive")
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    target = path.with_name(f"{path.name}.archived-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class FeedCheck:
    sensor: str
    feed: int
    component: str   # the AML id the config names


def check_feeds(chain: TwinLedgerChain, twin: int, feeds: list[FeedCheck], device_address: str) -> None:
    """Every feed exists, belongs to ``twin`` and to its configured component, and, when the chain
    names a device key for it, that key is the agent's. All problems are listed, one line each."""
    problems = []
    for f in feeds:
        try:
            view = contracts.feed(chain, f.feed)
        except ContractRevert:
            problems.append(f"feed {f.feed} (sensor {f.sensor}) does not exist on this chain: "
                            "register it with `twinledger feed register` or fix feeds in the config")
            continue
        if view.twin == 0 and view.component == bytes(32):
            problems.append(f"feed {f.feed} (sensor {f.sensor}) does not exist on this chain: "
                            "register it with `twinledger feed register` or fix feeds in the config")
        elif view.twin != twin:
            problems.append(f"feed {f.feed} (sensor {f.sensor}) belongs to twin {view.twin}, not to twin {twin}: "
                            "fix its feed_id or twin_id in the config")
        elif view.component != component_id_of(f.component):
            problems.append(f"feed {f.feed} (sensor {f.sensor}) belongs to another component than "
                            f"{f.component!r}: fix its component or feed_id in the config")
        elif view.device_key.lower() not in (ZERO_ADDRESS, device_address.lower()):
            problems.append(f"feed {f.feed} (sensor {f.sensor}) is signed by device key {view.device_key} on-chain, "
                            f"but the agent's device key is {device_address}: give that key as device_key_file")
    if problems:
        raise AgentRefused("\n".join(problems))


def discover_feeds(chain: TwinLedgerChain, spec: TwinSpec, twin: int, device_address: str,
                   from_block: int) -> dict[str, tuple[int, str]]:
    """The twin's feeds this device signs, from the chain: sensor (component name) -> (feed id, AML id).

    Feeds registered for ``twin`` with the agent's device key and not retired, named after their component
    in the on-chain specification. Refuses (one line) when there is none."""
    events = EventReader(chain).events("SensorFeed", "FeedRegistered", from_block, chain.w3.eth.block_number,
                                       twin=twin)
    by_id = {c.component_id: c for c in spec.components}
    out: dict[str, tuple[int, str]] = {}
    for event in sorted(events, key=lambda e: e.order):
        feed_id = int(event.args["feedId"])
        view = contracts.feed(chain, feed_id)
        component = by_id.get(view.component)
        if view.status == FeedStatus.Retired or component is None \
                or view.device_key.lower() != device_address.lower():
            continue
        out[component.name] = (feed_id, component.aml_id)
    if not out:
        raise AgentRefused(f"twin {twin} has no active feed signed by the agent's device key {device_address}: "
                           "register them with `twinledger feed register TWIN COMPONENT --device ADDRESS`, "
                           "or list feeds in the config")
    return out

"""Sensor replacement: when a physical sensor is swapped, the specification gets the new component
(the old one stays as inactive history), a new feed is registered under a fresh device key, and the
old feed is retired, pointing at its successor, once everything it accepted is anchored.

A swap is an operation in the outbox's SQLite (agent/operations.py). Its steps, each committed after
it happened and each checked against the chain before it is sent again:

1. the new device key is written to an encrypted keystore (a retry reuses the file) and the plan is
   recorded (``planned``);
2. ``replaceComponent`` unless the chain already has the new component (``component_replaced``);
3. ``registerFeed`` unless a `FeedRegistered` event already names the new component and key
   (``feed_registered``);
4. once the old feed is drained, ``retireFeed`` unless the chain already shows it retired
   (``retired``).

`resume` finishes steps 2 and 3 of every swap a crash interrupted before the agent starts ingesting.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import structlog
from eth_account import Account
from eth_utils import keccak

from ..chain.connection import TwinLedgerChain
from ..chain.keystore import DEFAULT_PASSPHRASE_ENV, load_key, new_keystore
from ..ledger import contracts, transactions
from ..ledger.events import EventReader
from ..ledger.names import FeedStatus
from ..ledger.provision import register_feed
from .operations import Operations, SwapRecord, SwapState, crash_point
from .outbox import Outbox
from .sources import SensorSwapped

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Replacement:
    old_sensor: str
    new_sensor: str
    old_feed: int
    new_feed: int
    new_component_aml_id: str
    key_file: str
    retired: bool = False


def _replacement(r: SwapRecord) -> Replacement:
    assert r.new_feed is not None
    return Replacement(r.old_sensor, r.new_sensor, r.old_feed, r.new_feed, r.new_component, r.key_file,
                       r.state is SwapState.RETIRED)


class SensorReplacer:
    """Carries out swaps on-chain as durable operations; `done` holds those whose new feed exists."""

    def __init__(self, chain: TwinLedgerChain, twin: int, outbox: Outbox, key_dir: Path, *,
                 passphrase_env: str = DEFAULT_PASSPHRASE_ENV) -> None:
        self.chain = chain
        self.twin = twin
        self.ops = Operations(outbox)
        self.key_dir = key_dir
        self.passphrase_env = passphrase_env
        self._import_legacy(key_dir / "swaps.json")
        self._records = {r.old_sensor: r for r in self.ops.swaps()}  # mirrors the table, written through

    @property
    def done(self) -> dict[str, Replacement]:
        return {old: _replacement(r) for old, r in self._records.items()
                if r.state in (SwapState.FEED_REGISTERED, SwapState.RETIRED)}

    def replace(self, event: SensorSwapped, old_feed: int, old_component_aml_id: str) -> Replacement:
        record = self._records.get(event.old) or self._plan(event, old_feed, old_component_aml_id)
        return self._finish(record)

    def resume(self) -> list[Replacement]:
        """Carry every interrupted swap up to its registered feed (retiring waits for the drain)."""
        return [self._finish(r) for r in list(self._records.values()) if r.state is SwapState.PLANNED
                or r.state is SwapState.COMPONENT_REPLACED]

    def retire_drained(self, has_open_batches: Callable[[int], bool]) -> None:
        """Retire old feeds whose accepted readings are all anchored (`has_open_batches(feed)` is False)."""
        for r in list(self._records.values()):
            if r.state is not SwapState.FEED_REGISTERED or has_open_batches(r.old_feed):
                continue
            if contracts.feed(self.chain, r.old_feed).status != FeedStatus.Retired:
                assert r.new_feed is not None
                self.chain.sender.transact(transactions.retire_feed(self.chain, r.old_feed, r.new_feed))
                crash_point("swap-retire-sent")
            self._advance(r, SwapState.RETIRED)
            log.info("old feed retired", feed=r.old_feed, successor=r.new_feed)
            crash_point("swap-retired")

    def key_of(self, replacement: Replacement) -> bytes:
        return load_key(Path(replacement.key_file), self.passphrase_env)

    # -- steps -----------------------------------------------------------------------------------

    def _plan(self, event: SensorSwapped, old_feed: int, old_component_aml_id: str) -> SwapRecord:
        key_file = self.key_dir / f"device-{event.new}.keystore.json"
        device = Account.from_key(new_keystore(key_file, self.passphrase_env)).address
        crash_point("swap-keyed")
        new_aml_id = f"{old_component_aml_id}/{event.new_serial or event.new}"
        record = self._records[event.old] = self.ops.plan_swap(SwapRecord(event.old, event.new, old_feed, old_component_aml_id, new_aml_id,
                                               str(key_file), device, SwapState.PLANNED, None))
        crash_point("swap-planned")
        return record

    def _finish(self, r: SwapRecord) -> Replacement:
        if r.state is SwapState.PLANNED:
            r = self._replace_component(r)
        if r.state is SwapState.COMPONENT_REPLACED:
            r = self._register_feed(r)
        return _replacement(r)

    def _replace_component(self, r: SwapRecord) -> SwapRecord:
        old, new = keccak(text=r.old_component), keccak(text=r.new_component)
        if not contracts.component(self.chain, self.twin, new).exists:
            kind = contracts.component(self.chain, self.twin, old).kind
            self.chain.sender.transact(transactions.replace_component(self.chain, self.twin, old, new, r.new_sensor,
                                                                      kind))
            crash_point("swap-component-sent")
        r = self._advance(r, SwapState.COMPONENT_REPLACED)
        crash_point("swap-component-recorded")
        return r

    def _register_feed(self, r: SwapRecord) -> SwapRecord:
        component = keccak(text=r.new_component)
        existing = self._feeds_registered(component, r.device)
        if existing:
            new_feed = existing[0]
        else:
            schema = contracts.feed(self.chain, r.old_feed).schema_cid
            new_feed = register_feed(self.chain, self.twin, component, r.device, schema)
            crash_point("swap-feed-sent")
        r = self._advance(r, SwapState.FEED_REGISTERED, new_feed)
        log.info("sensor replaced", old=r.old_sensor, new=r.new_sensor, old_feed=r.old_feed, new_feed=new_feed)
        crash_point("swap-feed-recorded")
        return r

    def _feeds_registered(self, component: bytes, device: str) -> list[int]:
        """Feeds the chain already has for `component` under the key `device` (a step done before a crash)."""
        events = EventReader(self.chain).events("SensorFeed", "FeedRegistered", self.chain.deployment.block,
                                                self.chain.w3.eth.block_number, twin=self.twin,
                                                component=int.from_bytes(component, "big"))
        return [int(e.args["feedId"]) for e in events if e.args["deviceKey"].lower() == device.lower()]

    def _advance(self, r: SwapRecord, state: SwapState, new_feed: int | None = None) -> SwapRecord:
        record = self._records[r.old_sensor] = self.ops.advance_swap(r.old_sensor, state, new_feed)
        return record

    def _import_legacy(self, state_file: Path) -> None:
        """Swaps an older agent remembered in `swaps.json` (it wrote them once both were on-chain)."""
        if not state_file.exists():
            return
        for old in json.loads(state_file.read_text()):
            if self.ops.swap(old["old_sensor"]) is not None:
                continue
            device = Account.from_key(load_key(Path(old["key_file"]), self.passphrase_env)).address
            state = SwapState.RETIRED if old.get("retired") else SwapState.FEED_REGISTERED
            self.ops.plan_swap(SwapRecord(old["old_sensor"], old["new_sensor"], old["old_feed"], "",
                                          old["new_component_aml_id"], old["key_file"], device, state,
                                          old["new_feed"]))
            log.info("swap imported from swaps.json", old=old["old_sensor"], new_feed=old["new_feed"])

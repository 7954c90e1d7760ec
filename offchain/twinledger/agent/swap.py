"""Sensor replacement: when a physical sensor is swapped, the specification gets the new component
(the old one stays as inactive history), a new feed is registered under a fresh device key, and the
old feed is retired, pointing at its successor, once everything it accepted is anchored."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog
from eth_account import Account
from eth_utils import keccak
from web3.logs import DISCARD

from ..chain.connection import TwinLedgerChain
from .sources import SensorSwapped
from ..ledger import transactions

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


class SensorReplacer:
    """Carries out swaps on-chain and remembers them in `state_file`, so a restart does not redo them."""

    def __init__(self, chain: TwinLedgerChain, twin: int, state_file: Path) -> None:
        self.chain = chain
        self.twin = twin
        self.state_file = state_file
        self.done: dict[str, Replacement] = self._load()

    def _load(self) -> dict[str, Replacement]:
        if not self.state_file.exists():
            return {}
        return {r["old_sensor"]: Replacement(**r) for r in json.loads(self.state_file.read_text())}

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in self.done.values()], indent=1))
        tmp.replace(self.state_file)

    def replace(self, event: SensorSwapped, old_feed: int, old_component_aml_id: str) -> Replacement:
        if event.old in self.done:
            return self.done[event.old]
        spec, feeds, send = self.chain.spec.functions, self.chain.feeds.functions, self.chain.sender.transact
        old_component = keccak(text=old_component_aml_id)
        new_aml_id = f"{old_component_aml_id}/{event.new_serial or event.new}"
        new_component = keccak(text=new_aml_id)
        kind = spec.component(self.twin, old_component).call()[3]
        send(spec.replaceComponent(self.twin, old_component, new_component, event.new, kind))
        key = Account.create()
        key_file = self.state_file.parent / f"device-{event.new}.key"
        key_file.write_text(key.key.hex())
        key_file.chmod(0o600)
        schema = feeds.feed(old_feed).call()[6]
        receipt = send(feeds.registerFeed(self.twin, new_component, key.address, schema))
        new_feed = self.chain.feeds.events.FeedRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]["feedId"]
        replacement = Replacement(event.old, event.new, old_feed, new_feed, new_aml_id, str(key_file))
        self.done[event.old] = replacement
        self._save()
        log.info("sensor replaced", old=event.old, new=event.new, old_feed=old_feed, new_feed=new_feed)
        return replacement

    def retire_drained(self, has_open_batches) -> None:
        """Retire old feeds whose accepted readings are all anchored (`has_open_batches(feed)` is False)."""
        for old, r in list(self.done.items()):
            if r.retired or has_open_batches(r.old_feed):
                continue
            self.chain.sender.transact(transactions.retire_feed(self.chain, r.old_feed, r.new_feed))
            self.done[old] = Replacement(**{**asdict(r), "retired": True})
            self._save()
            log.info("old feed retired", feed=r.old_feed, successor=r.new_feed)

    def key_of(self, replacement: Replacement) -> bytes:
        return bytes.fromhex(Path(replacement.key_file).read_text().strip().removeprefix("0x"))

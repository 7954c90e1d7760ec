"""The watchtower: reads every newly anchored batch of the agreements' feeds and submits the proof as soon
as one exists (a reading out of bounds, a coverage gap), shows coverage of the end, records a delivery
reading, and optionally settles agreements whose challenge window has closed.

It is a library class so the device agent can run it in-process (`Watchtower.poll` in its loop); the CLI
(`twinledger agreement watch`) is a thin face over `run`. Each poll fetches only batches not seen before
(one `Anchored` log query per feed from the last block read), so a poll costs little when nothing is new.
A refused transaction (e.g. another watchtower proved the breach first) is reported and the agreement is
re-read on the next poll.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..chain.errors import ChainError
from ..ledger.agreements.model import AgreementState, Status
from ..ledger.agreements.proofs import FeedBatch, ReadingProof, coverage, delivery_reading, feed_batch, gap_before, prev_heads, range_breach
from ..ledger.agreements.registry import AgreementClient
from ..ledger.reader import Ledger
from ..ipfs.errors import IpfsError


@dataclass(frozen=True)
class Action:
    """One thing the watchtower did (or tried): `kind` is breach, gap, coverage, delivery, settle."""

    agreement_id: int
    kind: str
    detail: str
    tx_hash: str | None = None
    refused: str | None = None

    def __str__(self) -> str:
        where = f"agreement {self.agreement_id}"
        if self.refused:
            return f"{where}: {self.kind} refused: {self.refused}"
        return f"{where}: {self.kind}: {self.detail} (tx {self.tx_hash})"


@dataclass
class _FeedCursor:
    next_block: int
    records: dict[int, Any] = field(default_factory=dict)
    batches: dict[int, FeedBatch] = field(default_factory=dict)
    unreadable: set[int] = field(default_factory=set)


class Watchtower:
    """Watches `agreement_ids` (None: every agreement of the registry) and acts on them."""

    def __init__(self, client: AgreementClient, store: Any, agreement_ids: Iterable[int] | None = None,
                 settle: bool = False, on_action: Callable[[Action], None] | None = None) -> None:
        self.client = client
        self.store = store
        self.ids = None if agreement_ids is None else sorted(set(agreement_ids))
        self.settle = settle
        self.on_action = on_action
        self.ledger = Ledger(client.chain)
        self._feeds: dict[int, _FeedCursor] = {}
        self._checked: dict[tuple[int, int], int] = {}  # (agreement, condition) -> next seq to check
        self.actions: list[Action] = []

    # ---- the loop -------------------------------------------------------------------------------

    def run(self, interval_s: float = 1.0, stop: threading.Event | None = None,
            until_settled: bool = False) -> list[Action]:
        """Polls every `interval_s` until `stop` is set (or, with `until_settled`, until no watched agreement
        is open any more)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.poll()
            if until_settled and not self._open_states():
                break
            stop.wait(interval_s)
        return self.actions

    def poll(self) -> list[Action]:
        """One round: new batches, proofs, settlements. Returns what it did this round."""
        self.ledger.refresh()
        done: list[Action] = []
        for state in self._open_states():
            done += self._watch(state)
        return done

    def _open_states(self) -> list[AgreementState]:
        ids = self.ids if self.ids is not None else range(1, self.client.count() + 1)
        states = [self.client.state(i) for i in ids]
        return [s for s in states if s.status in (Status.PROPOSED, Status.ACTIVE, Status.BREACHED)]

    def _watch(self, state: AgreementState) -> list[Action]:
        if state.status == Status.BREACHED:
            return self._settle(state) if self.settle else []
        if state.status != Status.ACTIVE:
            return []
        for cond in state.conditions:
            action = self._check_condition(state, cond)
            if action is not None and action.kind in ("breach", "gap") and not action.refused:
                return [action] + (self._settle(self.client.state(state.id)) if self.settle else [])
        out: list[Action] = []
        delivery = self._check_delivery(state)
        if delivery is not None:
            out.append(delivery)
        if self.settle and self.client.now_ms() >= self.client.state(state.id).settles_at():
            out += self._settle(self.client.state(state.id))
        return out

    # ---- conditions -----------------------------------------------------------------------------

    def _check_condition(self, state: AgreementState, cond: Any) -> Action | None:
        cursor = self._cursor(cond.feed_id)
        key = (state.id, cond.index)
        seq = self._checked.get(key, 0)
        result: Action | None = None
        while seq in cursor.batches or seq in cursor.unreadable:
            batch = cursor.batches.get(seq)
            if batch is not None:
                result = self._act_on_batch(state, cond, cursor, batch) or result
                if result is not None and result.kind in ("breach", "gap") and not result.refused:
                    self._checked[key] = seq + 1
                    return result
            seq += 1
        self._checked[key] = seq
        return result

    def _act_on_batch(self, state: AgreementState, cond: Any, cursor: _FeedCursor, batch: FeedBatch) -> Action | None:
        breach = range_breach(state, cond, batch)
        if breach is not None:
            return self._submit(state.id, "breach", f"reading {breach.sensor}={breach.value} at t={breach.t_ms} "
                                f"in batch {breach.seq} of feed {breach.feed_id} is outside the bounds",
                                lambda: self.client.prove_breach(breach))
        prev = cursor.batches.get(batch.seq - 1) if batch.seq else None
        if batch.seq == 0 or prev is not None:
            gap = gap_before(state, cond, prev, batch)
            if gap is not None:
                return self._submit(state.id, "gap", f"no batch of feed {gap.feed_id} from t={gap.gap_from} to "
                                    f"t={gap.gap_to} ({gap.gap_to - gap.gap_from} ms > {cond.max_gap_ms} ms)",
                                    lambda: self.client.prove_gap(gap))
        covered = coverage(state, cond, batch)
        if covered is not None and not self._coverage_shown(state.id, cond.index):
            return self._submit(state.id, "coverage", f"batch {batch.seq} of feed {batch.feed_id} reaches "
                                f"t={batch.t_last}, within {cond.max_gap_ms} ms of the end",
                                lambda: self.client.prove_coverage(covered))
        return None

    def _coverage_shown(self, agreement_id: int, condition: int) -> bool:
        return bool(self.client.state(agreement_id).conditions[condition].covered_at)

    def _check_delivery(self, state: AgreementState) -> Action | None:
        d = state.delivery
        if d.feed_id == 0 or state.delivered_at:
            return None
        cursor = self._cursor(d.feed_id)
        for seq in sorted(cursor.batches):
            proof = delivery_reading(state, cursor.batches[seq])
            if proof is not None:
                return self._submit_delivery(state.id, proof)
        return None

    def _submit_delivery(self, agreement_id: int, proof: ReadingProof) -> Action:
        return self._submit(agreement_id, "delivery", f"reading {proof.sensor}={proof.value} at t={proof.t_ms}",
                            lambda: self.client.record_delivery_reading(proof))

    def _settle(self, state: AgreementState) -> list[Action]:
        if state.status not in (Status.ACTIVE, Status.BREACHED):
            return []
        try:
            outcome, receipt = self.client.settle(state.id)
            action = Action(state.id, "settle", f"settled: {outcome.name.title()}",
                            "0x" + bytes(receipt["transactionHash"]).hex())
        except ChainError as exc:
            action = Action(state.id, "settle", "settle", refused=str(exc))
        return [self._record(action)]

    # ---- plumbing -------------------------------------------------------------------------------

    def _submit(self, agreement_id: int, kind: str, detail: str, send: Callable[[], Any]) -> Action:
        try:
            receipt = send()
            action = Action(agreement_id, kind, detail, "0x" + bytes(receipt["transactionHash"]).hex())
        except ChainError as exc:
            action = Action(agreement_id, kind, detail, refused=str(exc))
        return self._record(action)

    def _record(self, action: Action) -> Action:
        self.actions.append(action)
        if self.on_action is not None:
            self.on_action(action)
        return action

    def _cursor(self, feed_id: int) -> _FeedCursor:
        """The feed's batches, updated with every `Anchored` event since the last poll."""
        cursor = self._feeds.get(feed_id)
        if cursor is None:
            cursor = self._feeds[feed_id] = _FeedCursor(next_block=self.ledger.from_block)
        if cursor.next_block <= self.ledger.to_block:
            new = self.ledger.anchors(feed_id, from_block=cursor.next_block, to_block=self.ledger.to_block)
            cursor.next_block = self.ledger.to_block + 1
            for record in new:
                cursor.records[record.seq] = record
            heads = prev_heads(cursor.records.values())
            for record in new:
                self._load(cursor, record, heads.get(record.seq))
        return cursor

    def _load(self, cursor: _FeedCursor, record: Any, prev_head: bytes | None) -> None:
        if prev_head is None:
            cursor.unreadable.add(record.seq)
            return
        try:
            data = self.store.block_get(record.cid)
        except IpfsError:
            cursor.unreadable.add(record.seq)  # not (yet) in the store: gaps and breaches skip it
            return
        batch = feed_batch(record, prev_head, data)
        if batch is None:
            cursor.unreadable.add(record.seq)
        else:
            cursor.batches[record.seq] = batch

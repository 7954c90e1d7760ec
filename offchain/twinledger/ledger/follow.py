"""Following the ledger: every new event of the three contracts in chain order, and which twin each
concerns and whether an account may read it (`twinledger watch` and the web client's live channel)."""
from __future__ import annotations

from . import contracts
from .reader import Ledger, LedgerEvent


def ledger_events(ledger: Ledger, start: int, end: int) -> list[LedgerEvent]:
    """Events of all three contracts in [start, end], in chain order."""
    names = {c.address.lower(): n for n, c in (("Authorization", ledger.auth), ("Specification", ledger.spec),
                                                 ("SensorFeed", ledger.feeds))}
    out = []
    for log in ledger.reader.logs(list(ledger.chain.w3.to_checksum_address(a) for a in names), [], start, end):
        e = ledger.decode(names[log["address"].lower()], log)
        if e is not None:
            out.append(e)
    return sorted(out, key=lambda e: (e.block, e.log_index))


class TwinFilter:
    """Which twin an event concerns, and whether the account may read it (asked once per twin)."""

    def __init__(self, ledger: Ledger, twins: set[int] | None, account: str | None) -> None:
        self.ledger = ledger
        self.twins = twins
        self.account = account
        self._feed_twin: dict[int, int] = {}
        self._allowed: dict[int, bool] = {}

    def twin_of(self, e: LedgerEvent) -> int | None:
        twin = e.twin
        if twin is not None:
            return twin
        feed = e.args.get("feedId")
        if feed is None:
            return None
        if feed not in self._feed_twin:
            self._feed_twin[int(feed)] = self.ledger.feed_state(int(feed), block="latest").twin
        return self._feed_twin[int(feed)]

    def allows(self, twin: int) -> bool:
        if self.twins is not None:
            return twin in self.twins
        if self.account is None:
            return True
        if twin not in self._allowed:
            self._allowed[twin] = contracts.can_read(self.ledger.chain, twin, self.account, bytes(32))
        return self._allowed[twin]

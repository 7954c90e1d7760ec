"""Transactions on the outbox's one SQLite connection (``Outbox._tx``, ``Outbox.closing``, ``Outbox.transaction``):
``BEGIN IMMEDIATE`` taken under the connection's lock, and inside an open one a savepoint, so several closes can
share one commit (one fsync) while each stays all or none."""
from __future__ import annotations

import sqlite3
import threading


class Transactions:
    """The connection, the lock every use of it holds, and how many transactions are open on it."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock
        self.depth = 0  # nested ones are savepoints; only the lock holder changes it

    def open(self, keep_on_error: bool = False) -> Transaction:
        return Transaction(self, keep_on_error)


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception); inside another one, a savepoint that an
    exception rolls back alone. ``keep_on_error``: the outermost level commits what its savepoints kept even when
    an exception leaves it (``Outbox.closing``)."""

    def __init__(self, txs: Transactions, keep_on_error: bool = False) -> None:
        self.txs = txs
        self.keep_on_error = keep_on_error

    def __enter__(self) -> sqlite3.Connection:
        txs = self.txs
        txs.lock.acquire()
        try:
            txs.db.execute(f"SAVEPOINT nested_{txs.depth}" if txs.depth else "BEGIN IMMEDIATE")
        except BaseException:
            txs.lock.release()
            raise
        txs.depth += 1
        return txs.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        txs = self.txs
        txs.depth -= 1
        try:
            if txs.depth:
                if exc_type:
                    txs.db.execute(f"ROLLBACK TO nested_{txs.depth}")
                txs.db.execute(f"RELEASE nested_{txs.depth}")
            else:
                txs.db.execute("ROLLBACK" if exc_type and not self.keep_on_error else "COMMIT")
        finally:
            txs.lock.release()

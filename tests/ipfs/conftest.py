"""Fixtures for the IPFS component: an embedded store, an in-thread RPC server, a Kubo client."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from twinledger.ipfs import EmbeddedStore, KuboStore
from twinledger.ipfs.server import ServerThread


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large: 100 MB round trips (a few seconds each)")
    # ipfshttpclient 0.7 passes urllib3 an obsolete argument on every request
    config.addinivalue_line("filterwarnings", "ignore:The 'strict' parameter is no longer needed:FutureWarning")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def server(store: EmbeddedStore) -> Iterator[ServerThread]:
    with ServerThread(store) as srv:
        yield srv


@pytest.fixture
def kubo(server: ServerThread) -> Iterator[KuboStore]:
    k = KuboStore(server.url, timeout=60)
    yield k
    k.close()

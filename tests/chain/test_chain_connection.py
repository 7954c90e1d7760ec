"""Opening a deployment on a chain: the wrong chain, or a chain where the contracts are gone, is one
clear error before anything is sent."""
from __future__ import annotations

import pytest

from twinledger.chain.connection import TwinLedgerChain
from twinledger.chain.devnet import Anvil
from twinledger.chain.errors import ChainUnavailable
from twinledger.chain.stack import DevStack

pytestmark = pytest.mark.timeout(120)


def test_a_deployment_is_refused_on_a_chain_without_its_contracts(tmp_path):
    with DevStack(tmp_path / "stack") as stack:
        assert stack.chain(1).spec.functions.twinCount().call() == 0  # the real one opens
        deployment = stack.deployment
    with Anvil() as restarted:  # same chain id, but a fresh chain: the addresses hold no code
        with pytest.raises(ChainUnavailable, match="has no code at its address"):
            TwinLedgerChain.open(restarted.url, deployment)
    with Anvil(chain_id=4242) as other:
        with pytest.raises(ChainUnavailable, match="is chain 4242, the deployment is for chain 31337"):
            TwinLedgerChain.open(other.url, deployment)


def test_no_node_is_one_clear_error():
    from twinledger.chain.connection import connect
    from twinledger.chain.devnet import free_port

    with pytest.raises(ChainUnavailable, match="no Ethereum node answers"):
        connect(f"http://127.0.0.1:{free_port()}")

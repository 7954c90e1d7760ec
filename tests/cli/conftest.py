"""The CLI stack fixture: one real DevStack (anvil + embedded IPFS) per test module, driven in-process
through `cli_harness.Twinledger`."""
from collections.abc import Iterator

import pytest

from cli_harness import Twinledger
from twinledger.chain.stack import DevStack


@pytest.fixture(scope="module")
def tl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twinledger]:
    with DevStack(tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_"))) as stack:
        yield Twinledger(stack)

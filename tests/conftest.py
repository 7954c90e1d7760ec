"""Fixtures shared by the whole test suite: named accounts and the deployed, wired contracts.

Contracts are deployed once per session; ape's isolation reverts the chain after every test, so
each test starts from the state its fixtures built.
"""

from collections.abc import Iterator

import pytest

from cli_harness import Twinledger
from twinledger.chain.stack import DevStack
from contract_constants import (
    AUDITOR,
    DEVICE_AGENT,
    DEVICE_ID,
    DISTRIBUTOR,
    MAINTAINER,
    MANUFACTURER,
    RAW,
    SPEC_CID,
    SPEC_DIGEST,
    twin_of,
)


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def manufacturer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def maintainer(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def distributor(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def auditor(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def device_agent(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def outsider(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def auth(project, deployer):
    """Authorization; `deployer` holds DEFAULT_ADMIN_ROLE."""
    return deployer.deploy(project.Authorization, deployer)


@pytest.fixture(scope="session")
def spec(project, deployer, auth):
    """Specification registry, wired: `auth` is bound to it as its twin registry."""
    registry = deployer.deploy(project.Specification, auth)
    auth.bindRegistry(registry, sender=deployer)
    return registry


@pytest.fixture(scope="session")
def sensor_feed(project, deployer, auth, spec):
    """SensorFeed deployed against `auth` and `spec`. Lazy: only tests that ask for it need
    contracts/SensorFeed.sol; they are skipped while it is not compiled. SensorFeed only reads
    (`can`, `isFrozen`, `twinExists`, `componentActive`), so it needs no role on `auth`."""
    container = getattr(project, "SensorFeed", None)
    if container is None:
        pytest.skip("contracts/SensorFeed.sol is not compiled")
    return deployer.deploy(container, auth, spec)


@pytest.fixture
def twin(spec, owner):
    """Id of a fresh twin owned by `owner` (no other roles granted)."""
    tx = spec.createTwin("Bottling plant", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    return twin_of(tx)


@pytest.fixture
def staffed_twin(auth, twin, owner, manufacturer, maintainer, distributor, auditor, device_agent):
    """`twin` with every built-in role granted to its named account."""
    for role, account in (
        (MANUFACTURER, manufacturer),
        (MAINTAINER, maintainer),
        (DISTRIBUTOR, distributor),
        (AUDITOR, auditor),
        (DEVICE_AGENT, device_agent),
    ):
        auth.grantTwinRole(twin, role, account, sender=owner)
    return twin


@pytest.fixture(scope="module")
def cli_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One real DevStack (anvil + embedded IPFS) per test module that drives the CLI."""
    with DevStack(tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def tl(cli_stack: DevStack) -> Twinledger:
    """The `twinledger` CLI run in-process against the module's stack (tests/cli_harness.py)."""
    return Twinledger(cli_stack)

"""A twin for the confidential-sharing end-to-end tests, on a real anvil chain and the embedded IPFS
store: the bottling plant from examples/, an owner, a device agent account (DEVICE_AGENT and
MAINTAINER, as in tests/agent/plant_support.py), one feed per sensor, and reader parties with keys.

Named without a `test_` prefix so pytest does not collect it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from twinledger.chain.connection import TwinLedgerChain
from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack
from twinledger.ledger.provision import create_twin_from_aml, register_feed
from twinledger.crypto import NotARecipient, SealedHeader, Subject, open_payload, public_key_from_private
from twinledger.ledger.access import published_envelope_for

ROOT = Path(__file__).resolve().parents[2]
PLANT_AML = ROOT / "examples" / "bottling-plant.aml"
OWNER, AGENT, DEVICE = 1, 6, 7
SENSORS = ("tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level")


def role(name: str) -> bytes:
    return keccak(text=name)


def key_of(index: int) -> bytes:
    return bytes(test_account(index).key)


def address_of(index: int) -> str:
    return test_account(index).address.lower()


@dataclass
class SharedTwin:
    stack: DevStack
    twin: int
    feeds: dict[str, int]
    components: dict[str, bytes]  # sensor -> component id
    aml_ids: dict[str, str]  # sensor -> AML id (what agent configs name)

    def chain(self, index: int | None = None) -> TwinLedgerChain:
        return self.stack.chain(index)

    def register_key(self, index: int) -> None:
        chain = self.chain(index)
        chain.sender.transact(chain.auth.functions.registerKey(public_key_from_private(key_of(index))))

    def owner_call(self, name: str, *args) -> None:
        chain = self.chain(OWNER)
        chain.sender.transact(getattr(chain.auth.functions, name)(self.twin, *args))


def provision(workdir: Path) -> SharedTwin:
    stack = DevStack(workdir / "stack").start()
    owner = stack.chain(OWNER)
    twin = create_twin_from_aml(owner, stack.store(), PLANT_AML)
    agent: LocalAccount = test_account(AGENT)
    for name in ("DEVICE_AGENT", "MAINTAINER"):
        owner.sender.transact(owner.auth.functions.grantTwinRole(twin.twin_id, role(name), agent.address))
    feeds, components, aml_ids = {}, {}, {}
    for sensor in SENSORS:
        component = twin.spec.component(sensor)
        feeds[sensor] = register_feed(owner, twin.twin_id, component.component_id, test_account(DEVICE).address)
        components[sensor] = component.component_id
        aml_ids[sensor] = component.aml_id
    return SharedTwin(stack, twin.twin_id, feeds, components, aml_ids)


def can_open(shared: SharedTwin, store, payload: bytes, subject: Subject, item: int, index: int) -> bool:
    """True if party `index` decrypts the payload with the envelope published on-chain; False if it is
    not a recipient. Any other failure (tampering, a wrong key) is raised."""
    chain = shared.chain()

    def envelope_for(header: SealedHeader):
        return published_envelope_for(chain, store, shared.twin, subject, header.context.epoch, key_of(index))

    try:
        open_payload(payload, key_of(index), envelope_for, twin=shared.twin, subject=subject, item=item)
    except NotARecipient:
        return False
    return True

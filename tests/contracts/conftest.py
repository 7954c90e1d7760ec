"""Extra fixtures for the SensorFeed tests: a sensor component, device keys, a registered feed, an
ANCHOR holder (the gateway) and a driver that builds, signs and anchors batches."""

from __future__ import annotations

from typing import Any

import ape
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sensorfeed_support import DEVICE_KEY, OTHER_KEY, SENSOR, FeedDriver, register_feed_tx


@pytest.fixture
def device_key() -> LocalAccount:
    return Account.from_key(DEVICE_KEY)


@pytest.fixture
def other_key() -> LocalAccount:
    return Account.from_key(OTHER_KEY)


@pytest.fixture
def sensor_component(spec: Any, twin: int, owner: Any) -> bytes:
    """An active sensor component on `twin`."""
    if not spec.componentActive(twin, SENSOR):
        spec.addComponent(twin, SENSOR, b"\x00" * 32, "FillLevel", b"sensor".ljust(32, b"\x00"), sender=owner)
    return SENSOR


@pytest.fixture
def add_sensor(spec: Any, twin: int, owner: Any):  # type: ignore[no-untyped-def]
    """Adds another active sensor component and returns its id."""

    def add(name: str) -> bytes:
        cid = name.encode().ljust(32, b"\x00")
        spec.addComponent(twin, cid, b"\x00" * 32, name, b"sensor".ljust(32, b"\x00"), sender=owner)
        return cid

    return add


@pytest.fixture
def anchorer(auth: Any, twin: int, owner: Any, device_agent: Any) -> Any:
    """`device_agent` holding DEVICE_AGENT (ANCHOR) on the whole twin: the gateway."""
    role = auth.DEVICE_AGENT()
    if not auth.hasTwinRole(twin, role, device_agent):
        auth.grantTwinRole(twin, role, device_agent, sender=owner)
    return device_agent


@pytest.fixture
def feed_id(sensor_feed: Any, twin: int, sensor_component: bytes, device_key: LocalAccount, owner: Any) -> int:
    return register_feed_tx(sensor_feed, twin, sensor_component, device_key.address, owner)


@pytest.fixture
def register_feed(sensor_feed: Any, twin: int, owner: Any, device_key: LocalAccount):  # type: ignore[no-untyped-def]
    def register(component: bytes, key: str | None = None) -> int:
        return register_feed_tx(sensor_feed, twin, component, key or device_key.address, owner)

    return register


@pytest.fixture
def driver(sensor_feed: Any, device_key: LocalAccount) -> FeedDriver:
    return FeedDriver(sensor_feed, ape.chain.provider.chain_id, device_key)

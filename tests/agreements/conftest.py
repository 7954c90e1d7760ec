"""Fixtures of the agreement tests: the registry wired to the real SensorFeed and Specification, a dev
token, the lorry twin's temperature feed, and the three parties of the cold-chain example."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from agreement_support import (
    GATEWAY_FEED,
    D_CONFIRMATION,
    HOUR_MS,
    SENSOR_COMPONENT,
    UNITS,
    Trailer,
    condition,
    delivery,
    now_ms,
    party,
    terms,
)


@pytest.fixture(scope="session")
def seller(accounts: Any) -> Any:
    return accounts[2]


@pytest.fixture(scope="session")
def carrier(accounts: Any) -> Any:
    return accounts[4]


@pytest.fixture(scope="session")
def buyer(accounts: Any) -> Any:
    return accounts[5]


@pytest.fixture(scope="session")
def registry(project: Any, deployer: Any, sensor_feed: Any, spec: Any) -> Any:
    return deployer.deploy(project.AgreementRegistry, sensor_feed, spec)


@pytest.fixture(scope="session")
def token(project: Any, deployer: Any, seller: Any, carrier: Any, buyer: Any) -> Any:
    t = deployer.deploy(project.DevToken)
    for account in (seller, carrier, buyer):
        t.mint(account, 1000 * UNITS, sender=deployer)
    return t


@pytest.fixture
def lorry(spec: Any, auth: Any, twin: int, owner: Any, device_agent: Any) -> int:
    """`twin` as the lorry: a temperature sensor component and `device_agent` as its gateway."""
    spec.addComponent(twin, SENSOR_COMPONENT, b"\x00" * 32, "TempC", b"sensor".ljust(32, b"\x00"), sender=owner)
    auth.grantTwinRole(twin, auth.DEVICE_AGENT(), device_agent, sender=owner)
    return twin


def _register(sensor_feed: Any, twin: int, component: bytes, owner: Any) -> int:
    receipt = sensor_feed.registerFeed(twin, component, GATEWAY_FEED, b"\x5c" * 32, sender=owner)
    return int(receipt.events.filter(sensor_feed.FeedRegistered)[-1].feedId)


@pytest.fixture
def trailer(sensor_feed: Any, lorry: int, owner: Any, device_agent: Any) -> Trailer:
    """The refrigerated trailer's temperature feed on the lorry twin."""
    return Trailer(sensor_feed, _register(sensor_feed, lorry, SENSOR_COMPONENT, owner), device_agent)


@pytest.fixture
def period() -> tuple[int, int]:
    """An eight-hour trip starting a minute from now (ms)."""
    start = now_ms() + 60_000
    return start, start + 8 * HOUR_MS


@pytest.fixture
def cold_chain_parties(seller: Any, carrier: Any, buyer: Any) -> list[tuple]:  # type: ignore[type-arg]
    """The buyer escrows the price (100), the carrier a bond (20). Completed: the seller is paid and the
    carrier gets its bond back; breached: the buyer is refunded with half the bond; expired: all refunded."""
    return [
        party(seller, "seller", 0, 100 * UNITS, 0, 0),
        party(carrier, "carrier", 20 * UNITS, 20 * UNITS, 10 * UNITS, 20 * UNITS),
        party(buyer, "buyer", 100 * UNITS, 0, 110 * UNITS, 100 * UNITS),
    ]


@pytest.fixture
def propose(
    registry: Any, token: Any, lorry: int, trailer: Trailer, period: tuple[int, int], cold_chain_parties: list, owner: Any
) -> Callable[..., int]:
    """Proposes the cold-chain agreement (buyer confirms delivery before the end) and returns its id."""

    def make(
        conditions: list | None = None,
        deliver: tuple | None = None,  # type: ignore[type-arg]
        parties: list | None = None,
        escrow: Any = None,
        sender: Any = None,
        receipts: list | None = None,  # type: ignore[type-arg]
    ) -> int:
        start, end = period
        t = terms(lorry, token if escrow is None else escrow, start, end,
                  deliver or delivery(D_CONFIRMATION, deadline=end, confirmer=2))
        receipt = registry.create(
            t, cold_chain_parties if parties is None else parties,
            [condition(trailer.feed_id)] if conditions is None else conditions, sender=sender or owner,
        )
        if receipts is not None:
            receipts.append(receipt)
        return int(receipt.events.filter(registry.AgreementCreated)[-1].id)

    return make


@pytest.fixture
def accept_all(registry: Any, token: Any, seller: Any, carrier: Any, buyer: Any) -> Callable[[int], None]:
    def accept(agreement_id: int) -> None:
        for account in (seller, carrier, buyer):
            token.approve(registry, 1000 * UNITS, sender=account)
            registry.accept(agreement_id, sender=account)

    return accept


@pytest.fixture
def active(propose: Callable[..., int], accept_all: Callable[[int], None]) -> int:
    """The cold-chain agreement, accepted by all three parties."""
    agreement_id = propose()
    accept_all(agreement_id)
    return agreement_id


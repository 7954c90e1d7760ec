"""Gas figures, every one read from a real receipt on anvil: TwinLedger's writes, the EtherTwin-style
per-twin contract, the event-only floor, the naive one-transaction-per-reading baseline, and the gas per
reading against the batch size and the number of feeds."""
from __future__ import annotations

from typing import Sequence

from twinledger.chain.devnet import test_account

from .batches import DEVICE_ADDRESS, FeedWriter
from .chainenv import AGENT_INDEX, DEVICE_AGENT, ETHERTWIN_INDEX, MAINTAINER, NAIVE_INDEX, RAW_CODEC, BenchEnv, events, h
from .common import Results

BATCH_SIZES: tuple[int, ...] = (1, 10, 100, 1000)
FEED_COUNTS: tuple[int, ...] = (1, 10, 30, 100)
READINGS_PER_FEED_WINDOW = 100  # 100 Hz sensors, 1 s window
SINGLE_ANCHOR_READINGS = 100


def twinledger_writes(env: BenchEnv, runs: int) -> Results:
    """createTwin, grantRole, addDocument, addDocumentVersion, registerFeed in the steady state (not the first
    ever call, which also initializes shared counters)."""
    res = Results()
    env.create_twin("warm-up")  # first twin ever: initializes the registry's counters
    warm_component = env.add_component(1)[0]
    env.register_feed(1, warm_component, DEVICE_ADDRESS)  # first feed ever: initializes the feed counter
    gas: dict[str, list[int]] = {k: [] for k in
                                 ("create_twin", "grant_role", "add_document", "add_document_version", "register_feed")}
    spec = env.owner.spec.functions
    send = env.owner.sender.transact
    for i in range(runs):
        twin, receipt = env.create_twin(f"Filler line {i}")
        gas["create_twin"].append(receipt["gasUsed"])
        gas["grant_role"].append(env.grant(twin, MAINTAINER, 3)["gasUsed"])
        r = send(spec.addDocument(twin, b"\x00" * 32, "Maintenance report", h(f"doc{i}"), RAW_CODEC, h("d")))
        gas["add_document"].append(r["gasUsed"])
        doc = events(env.owner.spec.events.DocumentAdded(), r)[0]["docId"]
        r = send(spec.addDocumentVersion(twin, doc, h(f"doc{i}v1"), RAW_CODEC, h("d1")))
        gas["add_document_version"].append(r["gasUsed"])
        component = env.add_component(twin)[0]
        gas["register_feed"].append(env.register_feed(twin, component, DEVICE_ADDRESS)[1]["gasUsed"])
    for key, values in gas.items():
        res.put(f"gas_{key}", values)
    return res


def ethertwin_style(env: BenchEnv, runs: int) -> Results:
    """A whole contract deployed per twin (EtherTwin's approach) and its per-twin writes."""
    res = Results()
    gas: dict[str, list[int]] = {k: [] for k in ("create_twin", "grant_role", "add_document", "add_document_version",
                                                 "register_feed")}
    sender = env.chain(ETHERTWIN_INDEX).sender
    for i in range(runs):
        twin, receipt = env.deploy("EtherTwinStyleTwin", f"Filler line {i}", h("device"), h(f"spec{i}"),
                                   h("spec-digest"), index=ETHERTWIN_INDEX)
        gas["create_twin"].append(receipt["gasUsed"])
        fn = twin.functions
        gas["grant_role"].append(sender.transact(fn.grantRole(MAINTAINER, test_account(4).address))["gasUsed"])
        gas["add_document"].append(sender.transact(fn.addDocument(b"\x00" * 32, "Maintenance report", h("doc"),
                                                                  h("d")))["gasUsed"])
        gas["add_document_version"].append(sender.transact(fn.addDocumentVersion(0, h("doc1"), h("d1")))["gasUsed"])
        gas["register_feed"].append(sender.transact(fn.registerFeed(h("c"), DEVICE_ADDRESS, h("schema")))["gasUsed"])
    res.put("ethertwin_style_gas_create_twin", gas.pop("create_twin"))
    for key, values in gas.items():
        res.put(f"ethertwin_style_gas_{key}", values)
    return res


def event_floor(env: BenchEnv, runs: int) -> Results:
    """The bare event-only anchor of a 32-byte root."""
    res = Results()
    floor, _ = env.deploy("EventOnlyAnchor")
    res.put("gas_anchor_event_only_floor",
            [env.owner.sender.transact(floor.functions.anchor(h(f"root{i}")))["gasUsed"] for i in range(runs)])
    return res


def naive(env: BenchEnv, runs: int) -> Results:
    """One transaction and one new storage slot per reading."""
    res = Results()
    contract, _ = env.deploy("NaiveReadings")
    sender = env.chain(NAIVE_INDEX).sender
    res.put("naive_gas_per_reading",
            [sender.transact(contract.functions.store(i + 1, h(f"reading{i}")))["gasUsed"] for i in range(runs)])
    return res


def anchors(env: BenchEnv, runs: int, batch_sizes: Sequence[int], feed_counts: Sequence[int]) -> Results:
    """Single signed anchors, anchorMany of 10 feeds, and gas per reading against batch size and feed count.

    Batches are real: encoded, stored on the embedded IPFS node and signed by the device key with the agent's
    publish code. Every figure is the steady state (seq >= 1): the first anchor of a feed also turns its head
    slot from zero to non-zero, once per feed.
    """
    res = Results()
    twin, _ = env.create_twin("Anchors")
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    relay = env.chain(AGENT_INDEX)  # holds ANCHOR; relays device-signed anchors like the agent does
    store = env.stack.store()
    writer = FeedWriter(store, relay.sender.chain_id, relay.feeds.address)
    unsigned = FeedWriter(store, relay.sender.chain_id, relay.feeds.address, device_key=None)
    feeds_fn = relay.feeds.functions

    def anchor_one(w: FeedWriter, feed: int, n: int) -> int:
        return relay.sender.transact(feeds_fn.anchor(*w.next(feed, n).anchor_args()))["gasUsed"]

    def anchor_many(w: FeedWriter, feeds: Sequence[int], n: int) -> int:
        return relay.sender.transact(feeds_fn.anchorMany([w.next(f, n).as_input() for f in feeds]))["gasUsed"]

    # gas per reading against batch size, single signed anchor per batch
    per_reading: dict[int, list[float]] = {}
    for n in batch_sizes:
        feed = env.new_feeds(twin, 1, DEVICE_ADDRESS)[0]
        anchor_one(writer, feed, n)
        samples = [anchor_one(writer, feed, n) for _ in range(runs)]
        if n == SINGLE_ANCHOR_READINGS:
            res.put("gas_anchor_single", samples)
        per_reading[n] = [g / n for g in samples]
        res.put(f"gas_per_reading_{n}", per_reading[n])
    if "gas_anchor_single" not in res.values:
        feed = env.new_feeds(twin, 1, DEVICE_ADDRESS)[0]
        anchor_one(writer, feed, SINGLE_ANCHOR_READINGS)
        res.put("gas_anchor_single", [anchor_one(writer, feed, SINGLE_ANCHOR_READINGS) for _ in range(runs)])

    # anchorMany of 10 feeds of one twin by the ANCHOR holder (gateway), unsigned and signed
    # a feed with a device key requires its signature: the gateway's unsigned anchors go to feeds without one
    ten = env.new_feeds(twin, 10, "0x" + "00" * 20)
    anchor_many(unsigned, ten, SINGLE_ANCHOR_READINGS)
    res.put("gas_anchor_many_per_feed_10",
            [anchor_many(unsigned, ten, SINGLE_ANCHOR_READINGS) / 10 for _ in range(runs)])
    ten_signed = env.new_feeds(twin, 10, DEVICE_ADDRESS)
    anchor_many(writer, ten_signed, SINGLE_ANCHOR_READINGS)
    signed_many = [anchor_many(writer, ten_signed, SINGLE_ANCHOR_READINGS) / 10 for _ in range(runs)]
    res.put("gas_anchor_many_signed_per_feed_10", signed_many)
    res.put("gas_anchor_many_per_feed_10_signed", signed_many)  # the name issue #16's table uses

    # gas per reading against the number of feeds: n sensors at 100 Hz, one signed anchorMany per 1 s window
    by_feeds: dict[int, float] = {}
    for count in feed_counts:
        feeds = env.new_feeds(twin, count, DEVICE_ADDRESS)
        anchor_many(writer, feeds, READINGS_PER_FEED_WINDOW)
        samples = [anchor_many(writer, feeds, READINGS_PER_FEED_WINDOW) for _ in range(max(1, runs // 2))]
        key = f"gas_per_reading_feeds_{count}"
        by_feeds[count] = res.put(key, [g / (count * READINGS_PER_FEED_WINDOW) for g in samples])
        res.extra.setdefault("gas_anchor_many_signed_tx_by_feeds", {})[str(count)] = max(samples)
    res.extra["gas_per_reading_by_batch_size"] = {str(n): res.values[f"gas_per_reading_{n}"] for n in batch_sizes}
    res.extra["gas_per_reading_by_feeds"] = {str(n): v for n, v in by_feeds.items()}
    store.close()
    return res


AGREEMENT_PARTIES = (5, 6, 7)  # seller, carrier, buyer
AGREEMENT_DEVICE = 9


def agreements(env: BenchEnv, runs: int) -> Results:
    """The cold-chain agreement (three parties, one condition over a trailer's temperature feed, the buyer's
    confirmation, DevToken escrow): create, the activating accept (the buyer's, with its token deposit),
    proveBreach from a reading of a real anchored batch, settle (breached) and the buyer's withdraw."""
    from twinledger.ledger.agreements.model import (AgreementTerms, ConditionTerms, DeliveryKind, DeliveryTerms,
                                             PartyTerms)
    from twinledger.ledger.agreements.proofs import feed_batch, range_breach
    from twinledger.ledger.agreements.registry import AgreementClient
    from twinledger.ledger.reader import Ledger
    from twinledger.demo_cold_chain import ReeferTrailer
    from twinledger.formats.batch import Reading

    res = Results()
    twin, _ = env.create_twin("Refrigerated lorry")
    component = env.add_component(twin, "trailer_temp")[0]
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    feed, _ = env.register_feed(twin, component, test_account(AGREEMENT_DEVICE).address)
    faucet = AgreementClient(env.owner)
    token = faucet.token(faucet.dev_token)
    seller, carrier, buyer = (AgreementClient(env.chain(i)) for i in AGREEMENT_PARTIES)
    for c in (carrier, buyer):
        env.owner.sender.transact(token.functions.mint(c.chain.sender.address, 10**24))
    store = env.stack.store()
    trailer = ReeferTrailer(env.chain(AGENT_INDEX), store, feed, test_account(AGREEMENT_DEVICE).key)
    unit = 10**18
    gas: dict[str, list[int]] = {k: [] for k in ("create", "accept", "prove_breach", "settle", "withdraw")}
    for i in range(runs + 1):  # the first round warms the registry's counters and the token balances
        start = seller.now_ms() + 3_600_000
        end = start + 8 * 3_600_000
        parties = (PartyTerms(seller.chain.sender.address, "seller", 0, 100 * unit, 0, 0),
                   PartyTerms(carrier.chain.sender.address, "carrier", 20 * unit, 20 * unit, 10 * unit, 20 * unit),
                   PartyTerms(buyer.chain.sender.address, "buyer", 100 * unit, 0, 110 * unit, 100 * unit))
        terms = AgreementTerms(twin, faucet.dev_token, start, end, 600_000, parties,
                               (ConditionTerms(feed, "trailer_temp", None, 3.0, 60_000),),
                               DeliveryTerms(DeliveryKind.CONFIRMATION, end, confirmer=2))
        agreement_id, created = seller.create(terms)
        seller.accept(agreement_id)
        carrier.accept(agreement_id)
        accepted = buyer.accept(agreement_id)
        readings = [Reading(rid=trailer.rid + k, sensor="trailer_temp", t_ms=start + k * 30_000,
                            value=7.5 if k == 9 else 1.5) for k in range(10)]
        trailer.rid += 10
        trailer.anchor(readings)
        ledger = Ledger(env.owner)
        record = ledger.anchors(feed, seq=trailer.seq - 1)[0]
        prev = ledger.anchors(feed, seq=trailer.seq - 2)[0].head if trailer.seq > 1 else bytes(32)
        batch = feed_batch(record, bytes(prev), store.block_get(record.cid))
        state = buyer.state(agreement_id)
        proof = range_breach(state, state.conditions[0], batch)
        proven = buyer.prove_breach(proof)
        _, settled = buyer.settle(agreement_id)
        _, withdrawn = buyer.withdraw(agreement_id)
        if i:
            for key, receipt in (("create", created), ("accept", accepted), ("prove_breach", proven),
                                 ("settle", settled), ("withdraw", withdrawn)):
                gas[key].append(receipt["gasUsed"])
    for key, values in gas.items():
        res.put(f"gas_agreement_{key}", values)
    store.close()
    return res


def measure(env: BenchEnv, runs: int = 5, batch_sizes: Sequence[int] = BATCH_SIZES,
            feed_counts: Sequence[int] = FEED_COUNTS) -> Results:
    """Every gas figure, in one run on one chain."""
    res = Results()
    for part in (twinledger_writes(env, runs), ethertwin_style(env, runs), event_floor(env, runs), naive(env, runs),
                 anchors(env, runs, batch_sizes, feed_counts), agreements(env, runs)):
        res.merge(part)
    return res

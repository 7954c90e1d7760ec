"""Encrypted feeds end to end: the real `AgentDaemon` with `encryption.enabled` on anvil and the embedded
IPFS store. Authorized parties decrypt, others cannot, a re-scoped party sees only its components,
a revoked party keeps the old batches but not the ones written after the revocation, and an auditor
without a key still proves the CID, head chain and signatures of every batch."""
from __future__ import annotations

import json
from pathlib import Path

import dag_cbor
import pytest

from crypto_e2e_support import OWNER, SENSORS, SharedTwin, address_of, can_open, key_of, provision, role
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.chain import devnet
from twinledger.ledger.reader import Ledger
from twinledger.verify import Kind, PublishedKeys, Status, Verifier
from twinledger.crypto import DecryptionFailed, Subject, open_sealed, read_header
from twinledger.ledger.access import envelopes_for, published_envelope_for, recipients_of
from twinledger.crypto.envelope import open_envelope
from twinledger.formats.batch import decode_batch
from twinledger.formats.cids import raw_cid_from_digest

pytestmark = pytest.mark.timeout(300)

AUDITOR, MANUFACTURER, OUTSIDER = 5, 2, 8
SCOPED_TO = "pipe_flow"
START_MS = 1_700_000_000_000


def write_config(shared: SharedTwin, workdir: Path, start_ms: int) -> Path:
    (workdir / "device.key").write_text(devnet.test_account(7).key.hex())
    (workdir / "agent.key").write_text(devnet.test_account(6).key.hex())
    data = {
        "twin_id": shared.twin,
        "device_key_file": str(workdir / "device.key"),
        "account_key_file": str(workdir / "agent.key"),
        "outbox_path": str(workdir / "outbox.sqlite"),
        "ipfs": shared.stack.ipfs_spec,
        "chain": {"rpc_url": shared.stack.rpc_url, "deployment_file": str(shared.stack.deployment_path),
                  "poll_interval_s": 0.2},
        "feeds": {s: {"feed_id": f, "component": shared.aml_ids[s]} for s, f in shared.feeds.items()},
        "batching": {"window_s": 0.3, "max_readings": 25},
        "source": {"kind": "simulator", "seed": 3, "realtime": False, "duration_s": 1.5, "start_ms": start_ms,
                   "rates_hz": {s: 40 for s in SENSORS}},
        "encryption": {"enabled": True},
    }
    path = workdir / "agent.json"
    path.write_text(json.dumps(data))
    return path


def feed_list(shared: SharedTwin) -> str:
    from click.testing import CliRunner

    from twinledger.cli.main import cli
    from twinledger.cli.commands.feeds import feed_group

    cli.add_command(feed_group)
    env = {"TWINLEDGER_RPC": shared.stack.rpc_url, "TWINLEDGER_DEPLOYMENT": str(shared.stack.deployment_path),
           "TWINLEDGER_IPFS": shared.stack.ipfs_spec, "TWINLEDGER_ACCOUNT": None}
    result = CliRunner().invoke(cli, ["feed", "list", "--twin", str(shared.twin)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_agent(config: Path) -> dict:
    return AgentDaemon(load_config(config)).run(status_every_s=60, install_signals=False)


def anchored(shared: SharedTwin, feed: int) -> list[dict]:
    events = shared.chain().feeds.events.Anchored.get_logs(from_block=0, argument_filters={"feedId": feed})
    return [e["args"] for e in sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"]))]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    shared = provision(tmp_path_factory.mktemp("crypto-e2e-agent"))
    for index in (OWNER, AUDITOR, MANUFACTURER, OUTSIDER):
        shared.register_key(index)
    shared.owner_call("grantTwinRole", role("AUDITOR"), devnet.test_account(AUDITOR).address)
    shared.owner_call("grantTwinRole", role("MANUFACTURER"), devnet.test_account(MANUFACTURER).address)
    shared.owner_call("setScope", devnet.test_account(MANUFACTURER).address, [shared.components[SCOPED_TO]])
    yield shared
    shared.stack.stop()


def test_encrypted_feeds_follow_the_permission_matrix_and_revocation(shared: SharedTwin, tmp_path: Path) -> None:
    config = write_config(shared, tmp_path, START_MS)
    first = run_agent(config)
    assert first["accepted"] == first["readings_anchored"] > 0
    store = shared.stack.store()
    before = {s: len(anchored(shared, f)) for s, f in shared.feeds.items()}

    for sensor, feed in shared.feeds.items():
        subject = Subject.feed(feed)
        for a in anchored(shared, feed):
            payload = store.block_get(raw_cid_from_digest(a["cid"]))
            header = read_header(payload)  # stored sealed, never as plaintext
            assert header.context.subject == subject and header.context.item == a["seq"]
            assert can_open(shared, store, payload, subject, a["seq"], OWNER)
            assert can_open(shared, store, payload, subject, a["seq"], AUDITOR)
            assert can_open(shared, store, payload, subject, a["seq"], MANUFACTURER) == (sensor == SCOPED_TO)
            assert not can_open(shared, store, payload, subject, a["seq"], OUTSIDER)
        # the envelope is published on-chain, for the feed's component, by the agent
        published = envelopes_for(shared.chain(), shared.twin, subject)
        assert published and {p.component for p in published} == {shared.components[sensor]}
        assert {p.publisher for p in published} == {address_of(6)}

    # The Merkle root stays over the plaintext readings: a reader checks it after decrypting.
    feed = shared.feeds["tank_level_a"]
    a = anchored(shared, feed)[0]
    payload = store.block_get(raw_cid_from_digest(a["cid"]))
    header = read_header(payload)
    envelope = published_envelope_for(shared.chain(), store, shared.twin, Subject.feed(feed), header.context.epoch,
                                      key_of(AUDITOR))
    plain = open_sealed(payload, open_envelope(envelope, key_of(AUDITOR)), header.context)
    from twinledger.agent.publish import merkle_tree
    assert merkle_tree(decode_batch(plain)).root == bytes(a["root"])

    # Revoke the auditor: the next batches use a new epoch it does not get; it keeps the old ones.
    shared.owner_call("revokeTwinRole", role("AUDITOR"), devnet.test_account(AUDITOR).address)
    second = run_agent(write_config(shared, tmp_path, START_MS + 1_500))  # same outbox: the agent restarts
    assert second["readings_anchored"] > 0
    for sensor, feed in shared.feeds.items():
        subject = Subject.feed(feed)
        batches = anchored(shared, feed)
        assert len(batches) > before[sensor]
        old_epochs = {read_header(store.block_get(raw_cid_from_digest(b["cid"]))).context.epoch
                      for b in batches[:before[sensor]]}
        for b in batches:
            payload = store.block_get(raw_cid_from_digest(b["cid"]))
            is_old = b["seq"] < before[sensor]
            assert can_open(shared, store, payload, subject, b["seq"], AUDITOR) == is_old
            assert can_open(shared, store, payload, subject, b["seq"], OWNER)
            if not is_old:  # a restarted agent continues after the highest published epoch
                assert read_header(payload).context.epoch > max(old_epochs)
        latest = max(p.epoch for p in envelopes_for(shared.chain(), shared.twin, subject))
        assert address_of(AUDITOR) not in recipients_of(shared.chain(), store, shared.twin, subject, latest)

    # `feed list` shows which feeds are encrypted and for whom (the latest epoch's readers).
    listing = feed_list(shared)
    rows = [line for line in listing.splitlines() if line.split()[:1] in [[str(f)] for f in shared.feeds.values()]]
    assert len(rows) == len(shared.feeds), listing
    for line in rows:
        assert "epoch" in line and address_of(OWNER) in line and address_of(AUDITOR) not in line
        assert (address_of(MANUFACTURER) in line) == (line.split()[0] == str(shared.feeds[SCOPED_TO]))

    # Auditing ciphertext: without a key every batch still passes on CID, head chain and signature.
    verifier = Verifier(Ledger(shared.chain()), store)
    blind = verifier.verify_feed(shared.feeds["pipe_flow"])
    assert blind.status is Status.PASS and blind.batches
    assert all(b.encrypted and not b.root_checked for b in blind.batches)
    assert {f.kind for f in blind.findings} == {Kind.NOT_DECRYPTED}
    # With the owner's key (through the envelopes published on-chain) the roots are recomputed too.
    keyed = Verifier(Ledger(shared.chain()), store, keys=PublishedKeys(shared.chain(), store, key_of(OWNER)))
    result = keyed.verify_feed(shared.feeds["pipe_flow"])
    assert result.status is Status.PASS and all(b.verified for b in result.batches)
    # The revoked auditor verifies the batches it can open and is blind for the rest, with no error.
    partial = Verifier(Ledger(shared.chain()), store, keys=PublishedKeys(shared.chain(), store, key_of(AUDITOR)))
    result = partial.verify_feed(shared.feeds["pipe_flow"])
    assert result.status is Status.PASS
    assert [b.root_checked for b in result.batches] == [b.anchor.seq < before["pipe_flow"] for b in result.batches]

    # Tampered ciphertext or associated data fails with a clear error, for a reader with the right key.
    feed = shared.feeds["valve_position"]
    last = anchored(shared, feed)[-1]
    genuine = dag_cbor.decode(store.block_get(raw_cid_from_digest(last["cid"])))
    flipped = {**genuine, "ct": bytes([genuine["ct"][0] ^ 1]) + genuine["ct"][1:]}
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        can_open(shared, store, dag_cbor.encode(flipped), Subject.feed(feed), last["seq"], OWNER)
    moved = dag_cbor.encode({**genuine, "item": last["seq"] - 1})  # claims to be the previous batch
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        can_open(shared, store, moved, Subject.feed(feed), last["seq"] - 1, OWNER)
    with pytest.raises(DecryptionFailed, match="expected"):  # read where the chain anchored it: refused early
        can_open(shared, store, moved, Subject.feed(feed), last["seq"], OWNER)
    store.close()

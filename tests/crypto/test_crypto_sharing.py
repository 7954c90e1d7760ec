"""Confidential sharing end to end: keys, envelopes, sealed payloads, epochs and revocation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dag_cbor
import pytest
from eth_account import Account

from twinledger.crypto import (
    Action,
    Context,
    DecryptionFailed,
    Envelope,
    EnvelopeError,
    EnvelopeMismatch,
    EnvelopeWrongKey,
    EpochKey,
    EpochManager,
    EpochState,
    InvalidKey,
    KeyPolicy,
    NotARecipient,
    Recipient,
    SealedHeader,
    Subject,
    address_from_private_key,
    address_from_public_key,
    build_envelope,
    key_commitment,
    new_data_key,
    open_envelope,
    open_payload,
    open_sealed,
    public_key_from_private,
    read_header,
    reencrypt,
    resolve_readers,
    resolve_recipients,
    seal,
    seal_item,
    wrap_key,
)

TWIN = 1
FEED = Subject.feed(3)
CTX = Context(TWIN, FEED, 7, 2)


@dataclass(frozen=True)
class Party:
    name: str

    @property
    def private_key(self) -> bytes:
        return hashlib.sha256(b"twinledger test party " + self.name.encode()).digest()

    @property
    def recipient(self) -> Recipient:
        return Recipient.from_public_key(public_key_from_private(self.private_key))

    @property
    def address(self) -> str:
        return self.recipient.address


ALICE, BOB, CAROL, AGENT = Party("alice"), Party("bob"), Party("carol"), Party("agent")


def recipients(*parties: Party) -> frozenset[Recipient]:
    return frozenset(p.recipient for p in parties)


class Store:
    """IPFS stand-in: envelopes by CID."""

    def __init__(self) -> None:
        self.envelopes: dict[str, Envelope] = {}

    def publish(self, envelope: Envelope | None) -> None:
        if envelope is not None:
            self.envelopes[envelope.cid] = Envelope.from_bytes(envelope.to_bytes())

    def by_header_cid(self, header: SealedHeader) -> Envelope:
        return self.envelopes[header.envelope]


def can_open(party: Party, blob: bytes, store: Store, subject: Subject = FEED) -> bool:
    item = read_header(blob).context.item
    try:
        open_payload(blob, party.private_key, store.by_header_cid, twin=TWIN, subject=subject, item=item)
    except NotARecipient:
        return False
    return True


def _reencode(blob: bytes, **changes: object) -> bytes:
    value = dag_cbor.decode(blob)
    assert isinstance(value, dict)
    return dag_cbor.encode({**value, **changes})


# --- keys ---------------------------------------------------------------------------------------


def test_crypto_public_key_and_address_match_ethereum() -> None:
    account = Account.from_key(ALICE.private_key)
    public_key = public_key_from_private(ALICE.private_key)
    assert len(public_key) == 64
    assert address_from_public_key(public_key) == account.address.lower()
    assert address_from_private_key("0x" + ALICE.private_key.hex()) == account.address.lower()


def test_crypto_recipient_rejects_key_of_another_address() -> None:
    with pytest.raises(InvalidKey, match="belongs to"):
        Recipient(ALICE.address, BOB.recipient.public_key)
    with pytest.raises(InvalidKey):
        Recipient.from_public_key(b"\x01" * 64)  # not on the curve


# --- sealed payloads ----------------------------------------------------------------------------


def test_crypto_seal_roundtrip_with_fresh_nonces() -> None:
    key = new_data_key()
    a, b = seal(b"batch", key, CTX, envelope="bafy-env"), seal(b"batch", key, CTX, envelope="bafy-env")
    assert a != b
    assert read_header(a).nonce != read_header(b).nonce
    assert read_header(a).context == CTX and read_header(a).envelope == "bafy-env"
    assert open_sealed(a, key, CTX) == open_sealed(b, key, CTX) == b"batch"


def test_crypto_tampered_ciphertext_fails_with_clear_error() -> None:
    key = new_data_key()
    blob = seal(b"secret reading", key, CTX, envelope="e")
    ct = bytearray(read_header(blob).ct)
    ct[0] ^= 1
    with pytest.raises(DecryptionFailed, match=r"^authentication failed for twin 1 feed 3 seq 7 epoch 2$"):
        open_sealed(_reencode(blob, ct=bytes(ct)), key, CTX)


@pytest.mark.parametrize(
    "field, value",
    [
        ("twin", 2),
        ("item", 8),
        ("epoch", 3),
        ("subject", {"kind": "feed", "id": 4}),
        ("subject", {"kind": "doc", "id": 3}),
    ],
)
def test_crypto_tampered_associated_data_fails(field: str, value: object) -> None:
    key = new_data_key()
    blob = seal(b"secret", key, CTX, envelope="e")
    forged = _reencode(blob, **{field: value})
    forged_ctx = read_header(forged).context
    # The reader that trusts the forged label still fails: the tag covers the original place.
    with pytest.raises(DecryptionFailed, match=f"authentication failed for {forged_ctx}"):
        open_sealed(forged, key, forged_ctx)
    # The reader that knows where it should be gets a context mismatch.
    with pytest.raises(DecryptionFailed, match="expected twin 1 feed 3 seq 7 epoch 2"):
        open_sealed(forged, key, CTX)


def test_crypto_ciphertext_moved_to_another_subject_or_seq_fails() -> None:
    key = new_data_key()  # even the same key does not help: the place is in the AAD
    original = read_header(seal(b"reading", key, CTX, envelope="e"))
    for target in (Context(TWIN, FEED, 8, 2), Context(TWIN, Subject.feed(4), 7, 2), Context(2, FEED, 7, 2)):
        moved = seal(b"decoy", key, target, envelope="e")
        moved = _reencode(moved, nonce=original.nonce, ct=original.ct)
        with pytest.raises(DecryptionFailed, match=f"authentication failed for {target}"):
            open_sealed(moved, key, target)


def test_crypto_wrong_data_key_fails() -> None:
    blob = seal(b"x", new_data_key(), CTX, envelope="e")
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        open_sealed(blob, new_data_key(), CTX)
    with pytest.raises(InvalidKey):
        open_sealed(blob, b"short", CTX)


@pytest.mark.parametrize("blob", [b"", b"\xff", dag_cbor.encode({"v": 1}), dag_cbor.encode([1, 2])])
def test_crypto_malformed_payload_fails(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        open_sealed(blob, new_data_key(), CTX)


def test_crypto_unsupported_payload_version_fails() -> None:
    blob = seal(b"x", new_data_key(), CTX, envelope="e")
    with pytest.raises(DecryptionFailed, match="unsupported"):
        read_header(_reencode(blob, v=2))


# --- envelopes ----------------------------------------------------------------------------------


def test_crypto_envelope_opens_for_recipients_only() -> None:
    key = new_data_key()
    env = build_envelope(TWIN, FEED, 2, key, recipients(ALICE, BOB), AGENT.address, created_at=1000)
    data = env.to_bytes()
    assert Envelope.from_bytes(data) == env and env.cid.startswith("bafkrei")
    assert open_envelope(data, ALICE.private_key, twin=TWIN, subject=FEED, epoch=2) == key
    assert open_envelope(env, BOB.private_key) == key
    with pytest.raises(NotARecipient, match=f"{CAROL.address} is not a recipient of twin 1 feed 3 epoch 2"):
        open_envelope(env, CAROL.private_key)


def test_crypto_envelope_wrapped_to_wrong_key_is_detected() -> None:
    key = new_data_key()
    # The entry for alice was wrapped to bob's public key (e.g. a stale or wrong registered key).
    wrapped = wrap_key(key, BOB.recipient, TWIN, FEED, 2)
    commit = key_commitment(key, TWIN, FEED, 2)
    env = Envelope(TWIN, FEED, 2, {ALICE.address: wrapped}, commit, 0, AGENT.address)
    with pytest.raises(EnvelopeWrongKey, match="different public key"):
        open_envelope(env, ALICE.private_key)


def test_crypto_wrapped_key_replayed_into_another_subject_is_refused() -> None:
    key = new_data_key()
    feed3 = build_envelope(TWIN, FEED, 2, key, recipients(ALICE), AGENT.address)
    for subject, epoch in ((Subject.feed(4), 2), (FEED, 3), (Subject.doc(3), 2)):
        # An insider who knows the key even fixes up the commitment; the wrap binding still refuses.
        commit = key_commitment(key, TWIN, subject, epoch)
        forged = Envelope(TWIN, subject, epoch, dict(feed3.recipients), commit, 0, AGENT.address)
        with pytest.raises(EnvelopeMismatch, match="another place"):
            open_envelope(forged, ALICE.private_key)


def test_crypto_envelope_with_different_keys_per_reader_is_refused() -> None:
    key, other = new_data_key(), new_data_key()
    env = build_envelope(TWIN, FEED, 2, key, recipients(ALICE), AGENT.address)
    split = Envelope(
        TWIN, FEED, 2,
        {**env.recipients, BOB.address: wrap_key(other, BOB.recipient, TWIN, FEED, 2)},
        env.commit, 0, AGENT.address,
    )
    assert open_envelope(split, ALICE.private_key) == key
    with pytest.raises(EnvelopeMismatch, match="commitment"):
        open_envelope(split, BOB.private_key)


def test_crypto_envelope_for_unexpected_place_is_refused() -> None:
    env = build_envelope(TWIN, FEED, 2, new_data_key(), recipients(ALICE), AGENT.address)
    with pytest.raises(EnvelopeMismatch, match="expected epoch 3"):
        open_envelope(env, ALICE.private_key, epoch=3)
    with pytest.raises(EnvelopeMismatch, match="expected subject"):
        open_envelope(env, ALICE.private_key, subject=Subject.feed(4))


@pytest.mark.parametrize("data", [b"", dag_cbor.encode({"v": 1}), dag_cbor.encode({"v": "x"})])
def test_crypto_malformed_envelope_is_refused(data: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(data)


def test_crypto_envelope_with_non_canonical_address_is_refused() -> None:
    env = build_envelope(TWIN, FEED, 0, new_data_key(), recipients(ALICE), AGENT.address)
    value = env.to_map()
    value["recipients"] = {Account.from_key(ALICE.private_key).address: env.recipients[ALICE.address]}
    with pytest.raises(EnvelopeError, match="lowercase"):
        Envelope.from_bytes(dag_cbor.encode(value))


def test_crypto_envelope_encoding_is_canonical() -> None:
    key = new_data_key()
    env = build_envelope(TWIN, FEED, 0, key, recipients(ALICE, BOB), AGENT.address, created_at=5)
    reordered = dict(reversed(list(env.recipients.items())))
    shuffled = Envelope(TWIN, FEED, 0, reordered, env.commit, 5, "0x" + AGENT.address[2:].upper())
    assert shuffled.to_bytes() == env.to_bytes() and shuffled.cid == env.cid


# --- who gets a key -----------------------------------------------------------------------------


def test_crypto_resolve_readers_uses_only_the_chain_answer() -> None:
    permitted = {ALICE.address}
    candidates = [Account.from_key(ALICE.private_key).address, BOB.address]  # checksummed and lowercase
    assert resolve_readers(candidates, permitted.__contains__) == frozenset({ALICE.address})
    keys = {ALICE.address: ALICE.recipient.public_key}
    found, missing = resolve_recipients([ALICE.address, BOB.address], keys.get)
    assert found == recipients(ALICE) and missing == frozenset({BOB.address})


def test_crypto_policy_decisions() -> None:
    policy = KeyPolicy()
    first = policy.decide(None, recipients(ALICE))
    assert (first.action, first.epoch) == (Action.ROTATE, 0)
    assert policy.decide(None, recipients(ALICE), last_epoch=4).epoch == 5
    state = EpochState(2, recipients(ALICE, BOB))
    assert policy.decide(state, recipients(BOB, ALICE)).action is Action.KEEP
    revoke = policy.decide(state, recipients(ALICE))
    assert (revoke.action, revoke.epoch, revoke.removed) == (Action.ROTATE, 3, recipients(BOB))
    grant = policy.decide(state, recipients(ALICE, BOB, CAROL))
    assert (grant.action, grant.epoch, grant.added) == (Action.ROTATE, 3, recipients(CAROL))
    extend = KeyPolicy(rewrap_on_grant=True).decide(state, recipients(ALICE, BOB, CAROL))
    assert (extend.action, extend.epoch) == (Action.EXTEND, 2)
    swap = KeyPolicy(rewrap_on_grant=True).decide(state, recipients(ALICE, CAROL))
    assert (swap.action, swap.epoch) == (Action.ROTATE, 3)


# --- scenarios ----------------------------------------------------------------------------------


class FeedWriter:
    """The device agent's side: it creates the feed's epoch keys and is never a recipient."""

    def __init__(self, store: Store, subject: Subject = FEED, policy: KeyPolicy = KeyPolicy()) -> None:
        self.store, self.subject = store, subject
        self.epochs = EpochManager(TWIN, subject, AGENT.address, policy, clock=lambda: 0)
        self.seq = 0

    def write(self, data: bytes, permitted: Callable[[str], bool], parties: Iterable[Party]) -> bytes:
        readers = resolve_readers([p.address for p in parties], permitted)
        keys = {p.address: p.recipient.public_key for p in parties}
        found, _ = resolve_recipients(readers, keys.get)
        update = self.epochs.update(found)
        self.store.publish(update.envelope)
        blob = seal_item(data, update.key, self.seq)
        self.seq += 1
        return blob


EVERYONE = (ALICE, BOB, CAROL, AGENT)


def test_crypto_authorized_reads_and_unauthorized_cannot() -> None:
    store = Store()
    blob = FeedWriter(store).write(b"temp=71.2", {ALICE.address}.__contains__, EVERYONE)
    opened = open_payload(blob, ALICE.private_key, store.by_header_cid, twin=TWIN, subject=FEED, item=0)
    assert opened == b"temp=71.2"
    for outsider in (BOB, AGENT):
        with pytest.raises(NotARecipient):
            open_payload(blob, outsider.private_key, store.by_header_cid, twin=TWIN, subject=FEED, item=0)
    with pytest.raises(DecryptionFailed, match="expected twin 1 feed 3 seq 1"):
        open_payload(blob, ALICE.private_key, store.by_header_cid, twin=TWIN, subject=FEED, item=1)


def test_crypto_revoked_party_reads_old_data_but_not_new() -> None:
    store = Store()
    writer = FeedWriter(store)
    permitted = {ALICE.address, BOB.address}
    before = writer.write(b"before", permitted.__contains__, EVERYONE)
    permitted.discard(BOB.address)
    after = writer.write(b"after", permitted.__contains__, EVERYONE)
    assert read_header(after).context.epoch == read_header(before).context.epoch + 1
    assert can_open(BOB, before, store) and can_open(ALICE, before, store)
    assert can_open(ALICE, after, store) and not can_open(BOB, after, store)
    # Bob's key for the old epoch does not open the new one either.
    old_key = open_envelope(store.by_header_cid(read_header(before)), BOB.private_key)
    with pytest.raises(DecryptionFailed, match="authentication failed for twin 1 feed 3 seq 1 epoch 1"):
        open_sealed(after, old_key, read_header(after).context)


def test_crypto_rescoped_party_sees_only_its_components() -> None:
    pump, valve = b"\x01" * 32, b"\x02" * 32
    scopes = {ALICE.address: {pump, valve}, BOB.address: {pump}}

    def can_read(address: str, component: bytes) -> bool:
        return component in scopes.get(address, set())

    store = Store()
    writers = {c: FeedWriter(store, Subject.feed(n)) for n, c in ((10, pump), (11, valve))}

    def write(component: bytes) -> bytes:
        return writers[component].write(b"r", lambda a: can_read(a, component), EVERYONE)

    p0, v0 = write(pump), write(valve)
    assert can_open(BOB, p0, store, Subject.feed(10)) and not can_open(BOB, v0, store, Subject.feed(11))
    scopes[BOB.address] = {valve}  # re-scoped from the pump to the valve
    p1, v1 = write(pump), write(valve)
    assert not can_open(BOB, p1, store, Subject.feed(10)) and can_open(BOB, v1, store, Subject.feed(11))
    assert can_open(BOB, p0, store, Subject.feed(10))  # what it could read stays readable
    for blob, feed in ((p0, 10), (v0, 11), (p1, 10), (v1, 11)):
        assert can_open(ALICE, blob, store, Subject.feed(feed))


def test_crypto_rewrap_on_grant_extends_the_current_epoch() -> None:
    store = Store()
    writer = FeedWriter(store, policy=KeyPolicy(rewrap_on_grant=True))
    permitted = {ALICE.address}
    early = writer.write(b"early", permitted.__contains__, EVERYONE)
    permitted.add(CAROL.address)
    late = writer.write(b"late", permitted.__contains__, EVERYONE)
    assert read_header(early).context.epoch == read_header(late).context.epoch == 0
    assert read_header(early).envelope != read_header(late).envelope
    assert can_open(CAROL, late, store)
    # The documented trade-off: the newcomer can also read the earlier item, via the extended envelope.
    extended = store.by_header_cid(read_header(late))
    carol_key = open_envelope(extended, CAROL.private_key)
    assert open_sealed(early, carol_key, read_header(early).context) == b"early"
    assert not can_open(CAROL, early, store)  # the envelope the early payload names does not list carol


def test_crypto_reencrypt_document_after_revocation() -> None:
    store, doc = Store(), Subject.doc(42)
    owner = EpochManager(TWIN, doc, ALICE.address, clock=lambda: 0)
    v1 = owner.update(recipients(ALICE, BOB))
    store.publish(v1.envelope)
    old = seal_item(b"<CAEXFile/>", v1.key, 1)

    v2 = owner.update(recipients(ALICE))  # bob loses DOC_READ
    assert v2.decision.action is Action.ROTATE and v2.envelope is not None
    store.publish(v2.envelope)
    new = reencrypt(old, v1.key.key, read_header(old).context, v2.key)
    assert read_header(new).context == Context(TWIN, doc, 1, 1)
    assert can_open(ALICE, new, store, doc) and not can_open(BOB, new, store, doc)
    assert can_open(BOB, old, store, doc)  # the old envelope stays valid for old data
    with pytest.raises(ValueError, match="must be after"):
        reencrypt(old, v1.key.key, read_header(old).context, v1.key)


def test_crypto_manager_keeps_key_until_readers_change() -> None:
    manager = EpochManager(TWIN, FEED, AGENT.address, last_epoch=6, clock=lambda: 0)
    first = manager.update(recipients(ALICE))
    again = manager.update(recipients(ALICE))
    assert first.key.epoch == 7 and again.envelope is None and again.key == first.key
    assert isinstance(first.key, EpochKey) and "key=" not in repr(first.key)

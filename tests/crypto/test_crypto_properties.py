"""Property tests: over random grant/revoke/write sequences, exactly the permitted parties can read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.crypto import (
    Action,
    DecryptionFailed,
    Envelope,
    EnvelopeError,
    EpochManager,
    EpochState,
    KeyPolicy,
    Recipient,
    Subject,
    open_envelope,
    open_sealed,
    public_key_from_private,
    read_header,
    resolve_readers,
    resolve_recipients,
    seal_item,
)

TWIN = 9
COMPONENTS = (b"\x0a" * 32, b"\x0b" * 32)
FEEDS = {c: Subject.feed(i) for i, c in enumerate(COMPONENTS)}
PRIVATE_KEYS = [hashlib.sha256(b"property party %d" % i).digest() for i in range(4)]
RECIPIENTS = [Recipient.from_public_key(public_key_from_private(k)) for k in PRIVATE_KEYS]
AGENT = "0x" + "ee" * 20
PARTY = st.integers(0, len(PRIVATE_KEYS) - 1)
COMPONENT = st.sampled_from(COMPONENTS)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), PARTY, COMPONENT),
        st.tuples(st.just("revoke"), PARTY, COMPONENT),
        st.tuples(st.just("write"), st.just(0), COMPONENT),
    ),
    max_size=25,
)


@dataclass(frozen=True)
class Written:
    blob: bytes
    permitted: frozenset[int]


def _run(ops: list[tuple[str, int, bytes]]) -> tuple[list[Written], list[Envelope]]:
    """Play the operations against a permission matrix of (party, component) pairs."""
    scope: set[tuple[int, bytes]] = set()
    managers = {c: EpochManager(TWIN, s, AGENT, clock=lambda: 0) for c, s in FEEDS.items()}
    seqs = {c: 0 for c in COMPONENTS}
    written: list[Written] = []
    envelopes: list[Envelope] = []
    index = {r.address: i for i, r in enumerate(RECIPIENTS)}
    keys = {r.address: r.public_key for r in RECIPIENTS}
    for op, party, component in ops:
        if op == "grant":
            scope.add((party, component))
        elif op == "revoke":
            scope.discard((party, component))
        else:
            readers = resolve_readers(keys, lambda a: (index[a], component) in scope)  # noqa: B023 - called right here
            found, missing = resolve_recipients(readers, keys.get)
            assert not missing
            update = managers[component].update(found)
            if update.envelope is not None:
                envelopes.append(Envelope.from_bytes(update.envelope.to_bytes()))
            blob = seal_item(b"batch %d" % seqs[component], update.key, seqs[component])
            seqs[component] += 1
            written.append(Written(blob, frozenset(p for p, c in scope if c == component)))
    return written, envelopes


def _able(private_key: bytes, blob: bytes, envelopes: list[Envelope]) -> bool:
    """Whether any key this party can unwrap from *any* published envelope opens the blob."""
    context = read_header(blob).context
    for envelope in envelopes:
        try:
            key = open_envelope(envelope, private_key)
            open_sealed(blob, key, context)
        except (EnvelopeError, DecryptionFailed):
            continue
        return True
    return False


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_crypto_readers_of_each_item_equal_permitted_at_write(ops: list[tuple[str, int, bytes]]) -> None:
    written, envelopes = _run(ops)
    for item in written:
        able = frozenset(i for i, k in enumerate(PRIVATE_KEYS) if _able(k, item.blob, envelopes))
        assert able == item.permitted


READER_SETS = st.lists(st.frozensets(st.sampled_from(RECIPIENTS)), min_size=1, max_size=20)


@given(READER_SETS, st.booleans())
def test_crypto_policy_rotates_exactly_when_required(sets: list[frozenset[Recipient]], rewrap: bool) -> None:
    policy, state = KeyPolicy(rewrap_on_grant=rewrap), None
    for readers in sets:
        decision = policy.decide(state, readers)
        assert decision == policy.decide(state, readers)  # deterministic
        assert decision.recipients == readers
        if state is None:
            assert (decision.action, decision.epoch) == (Action.ROTATE, 0)
        else:
            removed, added = state.recipients - readers, readers - state.recipients
            must_rotate = bool(removed) or (bool(added) and not rewrap)
            assert (decision.action is Action.ROTATE) == must_rotate
            assert decision.epoch == state.epoch + (1 if must_rotate else 0)
            if not must_rotate:
                assert decision.action is (Action.EXTEND if added else Action.KEEP)
        state = decision.state
    assert isinstance(state, EpochState)

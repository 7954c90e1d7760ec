"""Who gets a key, and when a subject needs a new epoch.

Readers come from the chain only: the chain layer passes `can_read`, which asks the permission
matrix and component scopes at one block, and `public_key_of`, which returns keys registered with
`registerKey`. Nothing here keeps a list of its own.

Epoch rule (`KeyPolicy.decide`, pure and deterministic):

- no epoch yet → start one;
- a recipient is gone → start a new epoch with a new key, so the removed party cannot read anything
  written from now on (it keeps what it already had);
- a recipient is new → by default also a new epoch. Then an epoch has exactly one reader set, and
  the parties able to read an item are exactly those permitted when it was written. With
  `rewrap_on_grant=True` the current key is instead wrapped to the newcomer in an extended envelope
  of the same epoch: cheaper, but the newcomer can then also read the items written earlier in
  that epoch (sharing history on purpose is the better tool for that).
- otherwise → keep the current key.

`EpochManager` is the small stateful shell a writer keeps per subject. The device agent keeps one
per feed it writes: it creates each feed epoch key itself and wraps it to the feed's readers, so it
never needs to be a recipient of anything, and it never holds document or AML keys at all.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .context import Subject
from .envelope import Envelope, EpochKey, build_envelope, extend_envelope, new_data_key, now_ms
from .keys import Recipient, normalize_address


def resolve_readers(candidates: Iterable[str], can_read: Callable[[str], bool]) -> frozenset[str]:
    """The candidates (e.g. every account holding a role on the twin) that the chain lets read."""
    return frozenset(a for a in map(normalize_address, candidates) if can_read(a))


def resolve_recipients(
    readers: Iterable[str], public_key_of: Callable[[str], bytes | None]
) -> tuple[frozenset[Recipient], frozenset[str]]:
    """Pair readers with their registered keys. Returns (recipients, readers with no key yet).

    A reader without a registered key cannot be wrapped to; once it registers, the reader set
    changes and the policy takes it in.
    """
    recipients: set[Recipient] = set()
    missing: set[str] = set()
    for address in map(normalize_address, readers):
        public_key = public_key_of(address)
        if public_key is None:
            missing.add(address)
        else:
            recipients.add(Recipient(address, public_key))
    return frozenset(recipients), frozenset(missing)


class Action(enum.Enum):
    KEEP = "keep"
    EXTEND = "extend"  # same epoch and key, wrapped to new recipients as well
    ROTATE = "rotate"  # new epoch, new key


@dataclass(frozen=True)
class EpochState:
    epoch: int
    recipients: frozenset[Recipient]


@dataclass(frozen=True)
class EpochDecision:
    action: Action
    epoch: int
    recipients: frozenset[Recipient]
    added: frozenset[Recipient]
    removed: frozenset[Recipient]

    @property
    def state(self) -> EpochState:
        return EpochState(self.epoch, self.recipients)


@dataclass(frozen=True)
class KeyPolicy:
    rewrap_on_grant: bool = False

    def decide(
        self, state: EpochState | None, recipients: Iterable[Recipient], *, last_epoch: int | None = None
    ) -> EpochDecision:
        """What to do given the current epoch (if any) and the recipients the chain permits now.

        `last_epoch` is the highest epoch already published for the subject when there is no state
        (e.g. after a restart, the keys are gone): epoch numbers are never reused.
        """
        now = frozenset(recipients)
        if state is None:
            first = 0 if last_epoch is None else last_epoch + 1
            return EpochDecision(Action.ROTATE, first, now, now, frozenset())
        added, removed = now - state.recipients, state.recipients - now
        if removed or (added and not self.rewrap_on_grant):
            return EpochDecision(Action.ROTATE, state.epoch + 1, now, added, removed)
        if added:
            return EpochDecision(Action.EXTEND, state.epoch, now, added, removed)
        return EpochDecision(Action.KEEP, state.epoch, now, added, removed)


@dataclass(frozen=True)
class KeyUpdate:
    """Result of `EpochManager.update`. Publish `envelope` (IPFS, then its CID on-chain) before any
    payload sealed with `key`; publishing the same bytes again is harmless."""

    decision: EpochDecision
    key: EpochKey
    envelope: Envelope | None


class EpochManager:
    """Per-subject epoch keys of one writer."""

    def __init__(
        self,
        twin: int,
        subject: Subject,
        writer: str,
        policy: KeyPolicy = KeyPolicy(),
        *,
        last_epoch: int | None = None,
        clock: Callable[[], int] = now_ms,
        key_source: Callable[[], bytes] = new_data_key,
    ) -> None:
        self.twin, self.subject, self.writer, self.policy = twin, subject, normalize_address(writer), policy
        self._last_epoch, self._clock, self._key_source = last_epoch, clock, key_source
        self._state: EpochState | None = None
        self._key: EpochKey | None = None
        self._envelope: Envelope | None = None

    @property
    def state(self) -> EpochState | None:
        return self._state

    @property
    def current(self) -> EpochKey | None:
        return self._key

    def update(self, recipients: Iterable[Recipient]) -> KeyUpdate:
        """Bring the key in line with the recipients the chain permits now (call before each write)."""
        decision = self.policy.decide(self._state, recipients, last_epoch=self._last_epoch)
        envelope: Envelope | None
        if decision.action is Action.ROTATE:
            key = self._key_source()
            envelope = build_envelope(
                self.twin, self.subject, decision.epoch, key, decision.recipients, self.writer, self._clock()
            )
        elif decision.action is Action.EXTEND:
            assert self._key is not None and self._envelope is not None
            key = self._key.key
            envelope = extend_envelope(self._envelope, key, decision.added, self.writer, self._clock())
        else:
            assert self._key is not None
            return KeyUpdate(decision, self._key, None)
        self._state, self._envelope = decision.state, envelope
        self._key = EpochKey.from_envelope(envelope, key)
        return KeyUpdate(decision, self._key, envelope)

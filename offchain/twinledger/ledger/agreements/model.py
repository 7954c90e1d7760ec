"""The terms and state of an agreement, typed, and their conversion to and from the contract's tuples.

Times are milliseconds since the Unix epoch, on the readings' clock. Bounds are doubles here and order
keys on-chain (`formats/valuekey.py`); an open bound is ``None`` here and the extreme key on-chain.
A terms file is JSON (see `terms_from_json`); amounts in it are decimal token units (18 decimals).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, Callable, Mapping, Sequence

from eth_utils import is_address, keccak, to_checksum_address

from ...formats.valuekey import KEY_MAX, KEY_MIN, from_order_key, order_key

ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
DECIMALS = 18
MAX_PARTIES = 8
MAX_CONDITIONS = 8


class TermsError(ValueError):
    """Terms that cannot become an agreement; the message says what to change."""


class Status(IntEnum):
    NONE = 0
    PROPOSED = 1
    ACTIVE = 2
    BREACHED = 3
    SETTLED = 4
    CANCELLED = 5


class Outcome(IntEnum):
    NONE = 0
    COMPLETED = 1
    BREACHED = 2
    EXPIRED = 3
    CANCELLED = 4


class DeliveryKind(IntEnum):
    NONE = 0
    CONFIRMATION = 1
    PROGRAM_DONE = 2
    READING = 3


def sensor_id(name: str) -> bytes:
    """What the contract compares with a reading's `s`: keccak256 of the name's UTF-8 bytes."""
    return keccak(name.encode("utf-8"))


def role_id(role: str) -> bytes:
    return keccak(text=role)


COMMON_ROLES = ("seller", "carrier", "buyer", "supplier", "customer", "insurer", "owner", "operator")
_ROLE_NAMES = {role_id(name): name for name in COMMON_ROLES}


def role_name(role: bytes) -> str:
    """A role's name if it is a common one (the chain keeps only keccak256 of it), else its short hex."""
    return _ROLE_NAMES.get(bytes(role), "0x" + bytes(role).hex()[:12] + "…")


def _key(bound: float | None, open_key: int) -> int:
    return open_key if bound is None else order_key(bound)


def _bound(key: int, open_key: int) -> float | None:
    return None if key == open_key else from_order_key(key)


@dataclass(frozen=True)
class PartyTerms:
    account: str
    role: str
    deposit: int = 0
    on_completed: int = 0
    on_breached: int = 0
    on_expired: int = 0

    def as_tuple(self) -> tuple[str, bytes, int, int, int, int]:
        return (to_checksum_address(self.account), role_id(self.role), self.deposit, self.on_completed,
                self.on_breached, self.on_expired)


@dataclass(frozen=True)
class ConditionTerms:
    """Every reading of `sensor` on `feed_id` within [minimum, maximum]; coverage when `max_gap_ms` > 0."""

    feed_id: int
    sensor: str
    minimum: float | None = None
    maximum: float | None = None
    max_gap_ms: int = 0

    def as_tuple(self) -> tuple[int, bytes, int, int, int]:
        return (self.feed_id, sensor_id(self.sensor), _key(self.minimum, KEY_MIN), _key(self.maximum, KEY_MAX),
                self.max_gap_ms)

    def holds(self, value: float) -> bool:
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)


@dataclass(frozen=True)
class DeliveryTerms:
    kind: DeliveryKind = DeliveryKind.NONE
    deadline_ms: int = 0
    confirmer: int = 0
    program: bytes = ZERO32
    feed_id: int = 0
    sensor: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def as_tuple(self) -> tuple[int, int, int, bytes, int, bytes, int, int]:
        sensor = sensor_id(self.sensor) if self.kind == DeliveryKind.READING else ZERO32
        return (int(self.kind), self.deadline_ms, self.confirmer, self.program, self.feed_id, sensor,
                _key(self.minimum, KEY_MIN), _key(self.maximum, KEY_MAX))


@dataclass(frozen=True)
class AgreementTerms:
    twin: int
    token: str  # an ERC-20 address, or ZERO_ADDRESS for ether
    start_ms: int
    end_ms: int
    challenge_ms: int
    parties: tuple[PartyTerms, ...]
    conditions: tuple[ConditionTerms, ...] = ()
    delivery: DeliveryTerms = field(default_factory=DeliveryTerms)

    def check(self, now_ms: int) -> None:
        """The contract's checks, done before anything is sent, each as one line."""
        if not 1 <= len(self.parties) <= MAX_PARTIES:
            raise TermsError(f"an agreement has 1 to {MAX_PARTIES} parties, got {len(self.parties)}")
        if len(self.conditions) > MAX_CONDITIONS:
            raise TermsError(f"an agreement has at most {MAX_CONDITIONS} conditions, got {len(self.conditions)}")
        if not self.conditions and self.delivery.kind == DeliveryKind.NONE:
            raise TermsError("give at least one condition or a delivery event")
        if self.start_ms <= now_ms:
            raise TermsError(f"the period must start in the future (start {self.start_ms} <= now {now_ms})")
        if self.end_ms <= self.start_ms:
            raise TermsError("the period must end after it starts")
        accounts = [p.account.lower() for p in self.parties]
        if len(set(accounts)) != len(accounts):
            raise TermsError("a party appears twice")
        escrow = sum(p.deposit for p in self.parties)
        for name in ("on_completed", "on_breached", "on_expired"):
            total = sum(getattr(p, name) for p in self.parties)
            if total != escrow:
                raise TermsError(f"the payouts {name} sum to {units(total)}, not to the deposits' {units(escrow)}")
        for i, c in enumerate(self.conditions):
            if c.minimum is not None and c.maximum is not None and c.minimum > c.maximum:
                raise TermsError(f"condition {i}: min {c.minimum} is above max {c.maximum}")
        d = self.delivery
        if d.kind != DeliveryKind.NONE and not self.start_ms < d.deadline_ms <= self.end_ms:
            raise TermsError("the delivery deadline must lie after the start and not after the end")
        if d.kind == DeliveryKind.CONFIRMATION and d.confirmer >= len(self.parties):
            raise TermsError(f"the confirmer is party {d.confirmer}, but there are {len(self.parties)} parties")

    def create_args(self) -> tuple[tuple, list, list]:  # type: ignore[type-arg]
        terms = (self.twin, to_checksum_address(self.token), self.start_ms, self.end_ms, self.challenge_ms,
                 self.delivery.as_tuple())
        return terms, [p.as_tuple() for p in self.parties], [c.as_tuple() for c in self.conditions]


# ---- state read back from the chain ---------------------------------------------------------------


@dataclass(frozen=True)
class PartyState:
    index: int
    account: str
    role: bytes
    deposit: int
    on_completed: int
    on_breached: int
    on_expired: int
    accepted: bool
    withdrawn: bool

    def payout(self, outcome: Outcome) -> int:
        return {Outcome.COMPLETED: self.on_completed, Outcome.BREACHED: self.on_breached,
                Outcome.EXPIRED: self.on_expired,
                Outcome.CANCELLED: self.deposit if self.accepted else 0}.get(outcome, 0)


@dataclass(frozen=True)
class ConditionState:
    index: int
    feed_id: int
    sensor: bytes
    min_key: int
    max_key: int
    max_gap_ms: int
    covered_at: int

    @property
    def minimum(self) -> float | None:
        return _bound(self.min_key, KEY_MIN)

    @property
    def maximum(self) -> float | None:
        return _bound(self.max_key, KEY_MAX)

    def holds(self, value: float) -> bool:
        key = order_key(value)
        return self.min_key <= key <= self.max_key


@dataclass(frozen=True)
class DeliveryState:
    kind: DeliveryKind
    deadline_ms: int
    confirmer: int
    program: bytes
    feed_id: int
    sensor: bytes
    min_key: int
    max_key: int

    def accepts(self, value: float) -> bool:
        return self.min_key <= order_key(value) <= self.max_key


@dataclass(frozen=True)
class AgreementState:
    id: int
    twin: int
    token: str
    start_ms: int
    end_ms: int
    challenge_ms: int
    delivery: DeliveryState
    creator: str
    status: Status
    outcome: Outcome
    accepted_count: int
    escrow: int
    delivered_at: int
    call_floor: int
    parties: tuple[PartyState, ...]
    conditions: tuple[ConditionState, ...]

    @property
    def ether(self) -> bool:
        return int(self.token, 16) == 0

    def party_of(self, account: str) -> PartyState | None:
        return next((p for p in self.parties if p.account.lower() == account.lower()), None)

    def settles_at(self) -> int:
        """The earliest time (ms) `settle` accepts an active agreement."""
        last = max((c.covered_at for c in self.conditions), default=0)
        return max(self.end_ms, last) + self.challenge_ms


def state_from_chain(agreement_id: int, view: Sequence[Any], parties: Sequence[Sequence[Any]],
                     conditions: Sequence[Sequence[Any]]) -> AgreementState:
    """Builds the state from `agreement(id)`, `partyAt(id, i)` for each party and `conditionAt(id, i)`."""
    terms, creator, status, outcome, _, _, accepted, escrow, delivered_at, call_floor = view
    twin, token, start, end, challenge, d = terms
    return AgreementState(
        id=agreement_id, twin=twin, token=token, start_ms=start, end_ms=end, challenge_ms=challenge,
        delivery=DeliveryState(DeliveryKind(d[0]), d[1], d[2], bytes(d[3]), d[4], bytes(d[5]), d[6], d[7]),
        creator=creator, status=Status(status), outcome=Outcome(outcome), accepted_count=accepted, escrow=escrow,
        delivered_at=delivered_at, call_floor=call_floor,
        parties=tuple(PartyState(i, p[0], bytes(p[1]), p[2], p[3], p[4], p[5], ok, done)
                      for i, (p, ok, done) in enumerate(parties)),
        conditions=tuple(ConditionState(i, c[0], bytes(c[1]), c[2], c[3], c[4], covered)
                         for i, (c, covered) in enumerate(conditions)),
    )


# ---- the terms file ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_SCALE = {"ms": 1, "s": 1000, None: 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str | int | float, what: str) -> int:
    """`500ms`, `30s`, `10m`, `8h`, `1d`, or a number of seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise TermsError(f"{what}: {text!r} is not a duration; use e.g. 500ms, 30s, 10m or 8h")
    return int(Decimal(match.group(1)) * _SCALE[match.group(2)])


def time_ms(text: str | int, now_ms: int, what: str) -> int:
    """`+30s` (from now), or milliseconds since the epoch."""
    value = str(text).strip()
    if value.startswith("+"):
        return now_ms + duration_ms(value[1:], what)
    if value.isdigit():
        return int(value)
    raise TermsError(f"{what}: {text!r} is not a time; use +DURATION (from now) or milliseconds since the epoch")


def units(amount: int) -> str:
    """An 18-decimal amount as a decimal string."""
    text = f"{Decimal(amount).scaleb(-DECIMALS):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def amount_of(text: str | int | float, what: str) -> int:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise TermsError(f"{what}: {text!r} is not an amount") from None
    scaled = value.scaleb(DECIMALS)
    if not value.is_finite() or value < 0 or scaled != scaled.to_integral_value():
        raise TermsError(f"{what}: {text!r} must be a non-negative amount with at most {DECIMALS} decimals")
    return int(scaled)


def _bound_of(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TermsError(f"{what}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise TermsError(f"{what}: {value!r} must be finite (leave it out for no bound)")
    return number


def terms_from_json(text: str, now_ms: int, resolve_account: Callable[[str], str], token_for: Callable[[str], str]
                    ) -> AgreementTerms:
    """Parses a terms file. `resolve_account` maps `TEST::N` or an address to an address; `token_for` maps
    `"ether"`, `"dev"` or an address to the escrow token's address."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TermsError(f"the terms file is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise TermsError("the terms file must hold one JSON object")
    try:
        parties = tuple(_party(p, i, resolve_account) for i, p in enumerate(doc["parties"]))
        roles = [p.role for p in parties]
        conditions = tuple(_condition(c, i) for i, c in enumerate(doc.get("conditions", [])))
        start = time_ms(doc["start"], now_ms, "start")
        return AgreementTerms(
            twin=int(doc["twin"]), token=token_for(str(doc.get("token", "ether"))), start_ms=start,
            end_ms=time_ms(doc["end"], start, "end") if str(doc["end"]).startswith("+") else time_ms(doc["end"], now_ms, "end"),
            challenge_ms=duration_ms(doc.get("challenge", "10m"), "challenge"), parties=parties,
            conditions=conditions, delivery=_delivery(doc.get("delivery"), start, roles),
        )
    except KeyError as exc:
        raise TermsError(f"the terms file misses {exc.args[0]!r}") from None


def _party(p: Mapping[str, Any], i: int, resolve: Callable[[str], str]) -> PartyTerms:
    what = f"party {i}"
    return PartyTerms(account=resolve(str(p["account"])), role=str(p.get("role", f"party{i}")),
                      deposit=amount_of(p.get("deposit", 0), f"{what} deposit"),
                      on_completed=amount_of(p.get("on_completed", 0), f"{what} on_completed"),
                      on_breached=amount_of(p.get("on_breached", 0), f"{what} on_breached"),
                      on_expired=amount_of(p.get("on_expired", 0), f"{what} on_expired"))


def _condition(c: Mapping[str, Any], i: int) -> ConditionTerms:
    what = f"condition {i}"
    gap = c.get("max_gap")
    return ConditionTerms(feed_id=int(c["feed"]), sensor=str(c["sensor"]), minimum=_bound_of(c.get("min"), f"{what} min"),
                          maximum=_bound_of(c.get("max"), f"{what} max"),
                          max_gap_ms=0 if gap is None else duration_ms(gap, f"{what} max_gap"))


def _delivery(d: Mapping[str, Any] | None, start: int, roles: list[str]) -> DeliveryTerms:
    if not d:
        return DeliveryTerms()
    kinds = {"confirmation": DeliveryKind.CONFIRMATION, "program": DeliveryKind.PROGRAM_DONE,
             "reading": DeliveryKind.READING}
    kind = kinds.get(str(d.get("kind", "")).lower())
    if kind is None:
        raise TermsError(f"delivery kind must be one of {', '.join(kinds)}")
    deadline = time_ms(d["deadline"], start, "delivery deadline")
    confirmer = 0
    if kind == DeliveryKind.CONFIRMATION:
        who = str(d.get("confirmer", ""))
        if who not in roles:
            raise TermsError(f"delivery confirmer {who!r} is not a party's role ({', '.join(roles)})")
        confirmer = roles.index(who)
    program = ZERO32
    if kind == DeliveryKind.PROGRAM_DONE and d.get("program"):
        text = str(d["program"])
        if not (text.startswith("0x") and len(text) == 66):
            raise TermsError("delivery program: give the program's 0x bytes32 id (`program list` shows it), "
                             "or leave it out to accept any program")
        program = bytes.fromhex(text[2:])
    return DeliveryTerms(kind=kind, deadline_ms=deadline, confirmer=confirmer, program=program,
                         feed_id=int(d.get("feed", 0)), sensor=str(d.get("sensor", "")),
                         minimum=_bound_of(d.get("min"), "delivery min"), maximum=_bound_of(d.get("max"), "delivery max"))


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def checksum(address: str) -> str:
    if not is_address(address):
        raise TermsError(f"{address!r} is not an address")
    return to_checksum_address(address)

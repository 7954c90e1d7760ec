"""Where an encrypted object belongs: its subject, and the context bound into every ciphertext.

A *subject* is what one data key stream protects: a sensor feed, a document, or the twin's AML
specification. A *context* pins one object down to (twin, subject, item, epoch), where the item is a
feed's batch `seq` or a document's / AML model's `version`. The context is the associated data of
AES-GCM, so a ciphertext only opens at the place it was written for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import dag_cbor

SubjectKind = Literal["feed", "doc", "aml"]
SUBJECT_KINDS: frozenset[str] = frozenset(get_args(SubjectKind))
UINT64_MAX = 2**64 - 1
_ITEM_LABEL = {"feed": "seq", "doc": "version", "aml": "version"}

# DAG-CBOR only has 64-bit integers; on-chain ids wider than that are given as bytes32.
SubjectId = int | bytes


def check_uint(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT64_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return value


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    id: SubjectId

    def __post_init__(self) -> None:
        if self.kind not in SUBJECT_KINDS:
            raise ValueError(f"subject kind must be one of {sorted(SUBJECT_KINDS)}, got {self.kind!r}")
        if isinstance(self.id, bytes):
            if len(self.id) != 32:
                raise ValueError(f"a bytes subject id is 32 bytes, got {len(self.id)}")
        else:
            check_uint("subject id", self.id)

    @classmethod
    def feed(cls, feed_id: SubjectId) -> Subject:
        return cls("feed", feed_id)

    @classmethod
    def doc(cls, doc_id: SubjectId) -> Subject:
        return cls("doc", doc_id)

    @classmethod
    def aml(cls, model_id: SubjectId) -> Subject:
        return cls("aml", model_id)

    def to_map(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id}

    @classmethod
    def from_map(cls, value: Any) -> Subject:
        if not isinstance(value, dict) or set(value) != {"kind", "id"}:
            raise ValueError(f"a subject is a map with keys kind and id, got {value!r}")
        return cls(value["kind"], value["id"])

    @property
    def item_label(self) -> str:
        return _ITEM_LABEL[self.kind]

    def __str__(self) -> str:
        ident = "0x" + self.id.hex() if isinstance(self.id, bytes) else str(self.id)
        return f"{self.kind} {ident}"


@dataclass(frozen=True)
class Context:
    """One encrypted object's place: bound as AES-GCM associated data."""

    twin: int
    subject: Subject
    item: int
    epoch: int

    def __post_init__(self) -> None:
        check_uint("twin", self.twin)
        check_uint("item", self.item)
        check_uint("epoch", self.epoch)

    def to_map(self) -> dict[str, Any]:
        return {"twin": self.twin, "subject": self.subject.to_map(), "item": self.item, "epoch": self.epoch}

    def __str__(self) -> str:
        return f"twin {self.twin} {self.subject} {self.subject.item_label} {self.item} epoch {self.epoch}"


def canonical(value: Any) -> bytes:
    """DAG-CBOR: deterministic, so equal maps always give equal bytes."""
    return dag_cbor.encode(value)

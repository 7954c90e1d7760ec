"""Where the verifier gets data keys for encrypted content: static keys, envelopes, published envelopes."""
from __future__ import annotations

import bisect
import gc
import time
from array import array
from contextlib import contextmanager
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Protocol

import coincurve
from eth_utils import to_checksum_address

from ..crypto.context import Context, Subject
from ..crypto.envelope import open_envelope
from ..crypto.errors import CryptoError
from ..crypto.payload import SealedHeader, open_sealed, read_header
from ..formats import cids
from ..formats.batch import Batch, BatchFormatError, Reading, decode_batch, encode_reading
from ..formats.eip712 import AnchorMessage, domain_separator
from ..formats.headchain import GENESIS_HEAD, next_head
from ..formats.merkle import MerkleTree, keccak256, verify as merkle_verify
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from ..ledger.reader import ANCHOR_PERMISSION, AnchorRecord, AnchorTx, FeedState, KeyChange, Ledger, StoredVersion, word


# ---------------------------------------------------------------------------------------------
# Keys for encrypted content


class KeySource(Protocol):
    """Gives the data key of a sealed payload, or None if this source does not have it."""

    def data_key(self, header: SealedHeader) -> bytes | None: ...


@dataclass(frozen=True)
class StaticKeys:
    """Data keys given directly: (subject kind, subject id, epoch) -> key; subject id None = any."""

    keys: Mapping[tuple[str, int | bytes | None, int], bytes]

    def data_key(self, header: SealedHeader) -> bytes | None:
        s, epoch = header.context.subject, header.context.epoch
        return self.keys.get((s.kind, s.id, epoch)) or self.keys.get((s.kind, None, epoch))


@dataclass(frozen=True)
class EnvelopeKeys:
    """Opens the key envelope the payload points to with a reader's private key."""

    store: Any
    private_key: bytes | str

    def data_key(self, header: SealedHeader) -> bytes | None:
        c = header.context
        try:
            env = self.store.block_get(header.envelope)
            return open_envelope(env, self.private_key, twin=c.twin, subject=c.subject, epoch=c.epoch)
        except (CryptoError, IpfsError, ValueError):
            return None


@dataclass(frozen=True)
class PublishedKeys:
    """Opens, with a reader's private key, the envelope published on-chain for the payload's (subject,
    epoch): an envelope counts only once an account with KEY_PUBLISH recorded it (docs/formats.md §6)."""

    chain: Any
    store: Any
    private_key: bytes | str

    def data_key(self, header: SealedHeader) -> bytes | None:
        from ..crypto.access import published_envelope_for

        c = header.context
        try:
            env = published_envelope_for(self.chain, self.store, c.twin, c.subject, c.epoch, self.private_key)
            return open_envelope(env, self.private_key, twin=c.twin, subject=c.subject, epoch=c.epoch)
        except (CryptoError, IpfsError, ValueError):
            return None


@dataclass(frozen=True)
class ChainedKeys:
    sources: Sequence[KeySource]

    def data_key(self, header: SealedHeader) -> bytes | None:
        for source in self.sources:
            key = source.data_key(header)
            if key is not None:
                return key
        return None

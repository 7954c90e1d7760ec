"""Where the verifier gets data keys for encrypted content: static keys, envelopes, published envelopes."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


from ..crypto.envelope import open_envelope
from ..crypto.errors import CryptoError
from ..crypto.payload import SealedHeader
from ..ipfs.errors import IpfsError


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
        from ..ledger.access import published_envelope_for

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

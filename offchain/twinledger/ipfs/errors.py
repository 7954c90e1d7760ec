"""Errors raised by every content store backend."""

from __future__ import annotations

from ..errors import TwinLedgerError


class IpfsError(TwinLedgerError):
    """Base class for all IPFS component errors."""


class IpfsUnavailable(IpfsError):
    """The backing node (e.g. a Kubo daemon) cannot be reached."""


class IntegrityError(IpfsError):
    """A block's bytes do not hash to its CID; the data is never returned."""

    def __init__(self, cid: str, detail: str = "") -> None:
        self.cid = cid
        msg = f"integrity check failed for block {cid}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class BlockNotFound(IpfsError, KeyError):
    """The block (or a block of a DAG) is not in the store."""

    def __init__(self, cid: str) -> None:
        self.cid = cid
        super().__init__(f"block not found: {cid}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidCid(IpfsError, ValueError):
    """A string or byte sequence is not a valid CID."""


class NotPinned(IpfsError):
    """pin rm on a CID that has no direct or recursive pin."""


class UnsupportedContent(IpfsError):
    """The DAG uses a feature this implementation does not read (e.g. HAMT directories)."""

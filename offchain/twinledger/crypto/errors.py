"""Errors raised by `twinledger.crypto`.

Every failure to decrypt or unwrap is an exception, never a silent `None`, and the message names the
place (twin, subject, item, epoch) so a log line is enough to find the bad object.
"""

from __future__ import annotations

from ..errors import TwinLedgerError


class CryptoError(TwinLedgerError):
    """Base class of every error in this package."""


class DecryptionFailed(CryptoError):
    """A sealed payload did not authenticate, was malformed, or was not for the expected place."""


class EnvelopeError(CryptoError):
    """A key envelope could not be opened or is not what the caller expected."""


class NotARecipient(EnvelopeError):
    """The envelope has no wrapped key for this address: it was not permitted when the epoch began."""


class EnvelopeWrongKey(EnvelopeError):
    """The envelope has an entry for this address, but it was wrapped to a different public key."""


class EnvelopeMismatch(EnvelopeError):
    """The unwrapped key is bound to another twin, subject or epoch, or does not match the commitment."""


class InvalidKey(CryptoError):
    """A private key, public key or address is malformed, or a public key does not match its address."""

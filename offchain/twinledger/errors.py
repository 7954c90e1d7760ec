"""The one root of every error TwinLedger raises: catch `TwinLedgerError` to catch them all.

Each layer's errors derive from it, most also from the built-in class their callers expect
(`ValueError` for bad input, `RuntimeError` for a failed operation, `KeyError` for a missing block):

    TwinLedgerError
    ├── AmlError, BatchFormatError, WindowFormatError formats/   (ValueError)
    ├── IpfsError                                     ipfs/
    │   ├── IpfsUnavailable, IntegrityError, NotPinned, UnsupportedContent
    │   ├── BlockNotFound                                        (KeyError)
    │   └── InvalidCid, CarError, DecodeError                    (ValueError)
    ├── StoreSpecError                                ipfs/factory (ValueError: a bad --ipfs)
    ├── ApiError                                      ipfs/server (an HTTP error answer)
    ├── CommandError                                  sim/       (ValueError)
    ├── ChainError                                    chain/     (RuntimeError)
    │   ├── ChainUnavailable, ContractRevert, TxFailed, AccountError, LogRangeTooLarge, KeystoreError
    │   ├── TxRejected                                chain/tx   (ValueError: the node refused a raw transaction)
    │   ├── LookupFailed                              ledger/
    │   ├── NotFound                                  ledger/reader (TwinNotFound, FeedNotFound)
    │   │   └── DigestMismatch, NotReadable, BoundsError   ledger/documents, ledger/programs
    │   └── UsageError                                cli/
    ├── DevError                                      cli/dev    (a click error: `dev up` refused)
    ├── BadOption                                     cli/main   (a click error: a bad global option)
    ├── ArtifactsMissing, DeploymentError             chain/     (RuntimeError)
    ├── AssetsMissing                                 web/       (RuntimeError: run `make`)
    ├── CryptoError                                   crypto/
    │   ├── DecryptionFailed, InvalidKey, NoReaders, KeyRequired
    │   └── EnvelopeError
    │       └── NotARecipient, EnvelopeWrongKey, EnvelopeMismatch
    ├── UnknownName                                   ledger/names (ValueError)
    ├── SpecError                                     ledger/twinspec (RuntimeError)
    ├── ConfigError                                   agent/     (ValueError)
    ├── OutboxError                                   agent/     (RuntimeError)
    ├── AgentRefused                                  agent/guards (RuntimeError: wrong mapping, refused feeds)
    │   └── ForeignChain                                         (the outbox belongs to another chain)
    ├── UnknownSensorError                            agent/     (KeyError)
    ├── ConnectorError                                agent/connectors (RuntimeError)
    │   └── DeviceUnavailable                                    (ConnectionError)
    ├── SparkplugError                                agent/connectors (ValueError)
    └── DemoFailed                                    demo       (RuntimeError)

`tests/test_errors.py` checks that every exception class in the package derives from this root.
"""
from __future__ import annotations


class TwinLedgerError(Exception):
    """Any error TwinLedger raises on purpose; its message is one line a person can act on."""

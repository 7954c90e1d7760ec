"""TwinLedger: multi-party data sharing for industrial digital twins on Ethereum and IPFS."""

__version__ = "0.1.0"

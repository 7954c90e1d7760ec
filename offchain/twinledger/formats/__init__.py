"""Pure, versioned encodings shared by every component: batches, Merkle trees, the head chain,
EIP-712 anchors and on-chain CIDs. docs/formats.md is the specification; this is its reference code."""

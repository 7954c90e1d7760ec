"""Access to the deployed contracts: deployment files, transactions (nonces, fees, confirmations,
resubmission), custom-error decoding and event reading."""

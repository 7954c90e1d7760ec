"""The `twinledger` command groups for twins, parties, documents, sources and program calls."""

"""Agreements settled by proven sensor readings: the terms and state (`model`), the typed client of the
`AgreementRegistry` contract (`registry`) and the proofs built from anchored batches (`proofs`). The
watchtower that submits them is `agent/watchtower.py`; docs/agreements.md describes the model."""

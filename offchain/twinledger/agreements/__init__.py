"""Agreements settled by proven sensor readings: the terms (`model`), the typed client of the
`AgreementRegistry` contract (`registry`), the proofs built from anchored batches (`proofs`) and the
watchtower that submits them (`watchtower`). docs/agreements.md describes the model."""

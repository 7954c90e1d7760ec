"""The client application for people: the `twinledger` CLI, AutomationML import, independent
verification and audit reports."""

"""Confidential sharing: AES-256-GCM payloads, ECIES key envelopes per epoch, and who gets a key."""

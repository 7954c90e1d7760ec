"""The device agent daemon: sources, validation, batching, durable outbox, storage, anchoring and
program calls back to the device."""

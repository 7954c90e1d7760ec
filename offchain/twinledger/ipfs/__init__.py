"""Content-addressed storage: one interface, an embedded node (the default) and a Kubo client,
with CIDs identical to Kubo's."""

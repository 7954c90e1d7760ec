"""The client application in a browser (`twinledger web`): every party's view of a twin, live.

It sits at the CLI's level and reads and writes through the same library the CLI uses; it never
holds a second implementation of a read or a write. Layout:
- `identity`: the one local account the server acts for, read-only mode, and CSRF protection;
- `live`: one poller of new ledger events, pushed to every open page over server-sent events;
- `server`: the aiohttp application, its middlewares and its static files;
- `pages/`: one module per page (twins, feeds, program calls, documents, parties, verification);
- `templates/` and `static/` (htmx and uPlot are copied from npm by `make`, see `assets`).
"""

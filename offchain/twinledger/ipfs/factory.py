"""``open_store(spec)``: pick a backend from a short spec string."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .embedded import EmbeddedStore
from .kubo import DEFAULT_KUBO_ADDR, KuboStore



def default_embedded_dir() -> Path:
    return Path(os.environ.get("TWINLEDGER_IPFS_PATH") or Path.home() / ".twinledger" / "ipfs")
STORE_ENV = "TWINLEDGER_IPFS"


def default_spec() -> str:
    return os.environ.get(STORE_ENV) or f"embedded:{default_embedded_dir()}"


def open_store(spec: str | None = None, **options: object) -> Union[EmbeddedStore, KuboStore]:
    """Open a content store.

    - ``embedded:/path/to/dir`` (or ``embedded`` for the default directory, or a bare path);
    - ``kubo:http://127.0.0.1:5001`` or ``kubo:/ip4/127.0.0.1/tcp/5001`` (``kubo`` alone: the
      default address). Extra keyword options go to the backend's constructor.
    With no spec: ``$TWINLEDGER_IPFS``, else the embedded store in ``$TWINLEDGER_IPFS_PATH``
    or ``~/.twinledger/ipfs``.
    """
    spec = (spec or default_spec()).strip()
    scheme, sep, rest = spec.partition(":")
    if sep and scheme == "embedded":
        return EmbeddedStore(Path(rest).expanduser() if rest else default_embedded_dir(), **options)  # type: ignore[arg-type]
    if spec == "embedded":
        return EmbeddedStore(default_embedded_dir(), **options)  # type: ignore[arg-type]
    if spec == "kubo" or (sep and scheme == "kubo"):
        return KuboStore(rest or DEFAULT_KUBO_ADDR, **options)  # type: ignore[arg-type]
    if scheme in ("http", "https") and sep:
        return KuboStore(spec, **options)  # type: ignore[arg-type]
    if sep and len(scheme) > 1 and not spec.startswith("/"):
        raise ValueError(f"unknown store {spec!r}: use embedded:/path/to/dir or kubo:http://host:port")
    return EmbeddedStore(Path(spec).expanduser(), **options)  # type: ignore[arg-type]

"""``open_store(spec)``: pick a backend from a short spec string."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union
from urllib.parse import urlsplit

from ..errors import TwinLedgerError
from .embedded import EmbeddedStore
from .kubo import DEFAULT_KUBO_ADDR, KuboStore



def default_embedded_dir() -> Path:
    return Path(os.environ.get("TWINLEDGER_IPFS_PATH") or Path.home() / ".twinledger" / "ipfs")
STORE_ENV = "TWINLEDGER_IPFS"


def default_spec() -> str:
    return os.environ.get(STORE_ENV) or f"embedded:{default_embedded_dir()}"


ACCEPTED_FORMS = ("embedded, embedded:DIR, a directory path (/abs/DIR, ./DIR, ~/DIR), kubo, kubo:http://HOST:PORT "
                  "or kubo:/ip4/HOST/tcp/PORT/http")


class StoreSpecError(TwinLedgerError, ValueError):
    """A store spec that names no store: the message lists the accepted forms."""


def parse_store_spec(spec: str) -> tuple[str, str]:
    """(``"embedded"``, directory) or (``"kubo"``, RPC address) for a spec; raises `StoreSpecError`.

    A bare value is a directory only when it looks like a path (absolute, or with a ``/``, or starting
    with ``.`` or ``~``): a stray word is refused rather than silently becoming a new empty store."""
    spec = spec.strip()
    scheme, sep, rest = spec.partition(":")
    if spec == "embedded" or (sep and scheme == "embedded" and not rest):
        return "embedded", str(default_embedded_dir())
    if sep and scheme == "embedded":
        return "embedded", rest
    if spec == "kubo" or (sep and scheme == "kubo" and not rest):
        return "kubo", DEFAULT_KUBO_ADDR
    if sep and scheme == "kubo":
        return "kubo", _kubo_address(spec, rest)
    if sep and scheme in ("http", "https"):
        return "kubo", _kubo_address(spec, spec)
    if not sep and (spec.startswith((".", "~")) or os.sep in spec):
        return "embedded", spec
    if spec.startswith("/"):
        return "embedded", spec
    raise StoreSpecError(f"unknown IPFS store {spec!r}: use {ACCEPTED_FORMS}")


def _kubo_address(spec: str, addr: str) -> str:
    if addr.startswith(("/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/")) and "/tcp/" in addr:
        return addr
    parts = urlsplit(addr if "://" in addr else "http://" + addr)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme in ("http", "https") and parts.hostname and (port or "://" in addr):
        return addr
    raise StoreSpecError(f"unknown IPFS store {spec!r}: a Kubo RPC address is http://HOST:PORT or "
                         f"/ip4/HOST/tcp/PORT/http; accepted stores: {ACCEPTED_FORMS}")


def open_store(spec: str | None = None, **options: object) -> Union[EmbeddedStore, KuboStore]:
    """Open a content store.

    - ``embedded:/path/to/dir`` (or ``embedded`` for the default directory, or a path);
    - ``kubo:http://127.0.0.1:5001`` or ``kubo:/ip4/127.0.0.1/tcp/5001`` (``kubo`` alone: the
      default address). Extra keyword options go to the backend's constructor.
    With no spec: ``$TWINLEDGER_IPFS``, else the embedded store in ``$TWINLEDGER_IPFS_PATH``
    or ``~/.twinledger/ipfs``. Anything else raises `StoreSpecError` naming the accepted forms.
    """
    kind, target = parse_store_spec(spec or default_spec())
    if kind == "embedded":
        return EmbeddedStore(Path(target).expanduser(), **options)  # type: ignore[arg-type]
    return KuboStore(target, **options)  # type: ignore[arg-type]

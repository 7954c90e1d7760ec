"""Kubo backend: a :class:`ContentStore` over a Kubo daemon's RPC API (``/api/v0``).

``ipfshttpclient`` (unmaintained, last release 2021) is used only here. Its ``connect()``
refuses Kubo >= 0.8, so the client is constructed directly; endpoints it lacks (dag export and
import) go through its request layer. Every call carries a (connect, read) timeout.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Callable, Iterator, Optional, TypeVar
from urllib.parse import urlsplit

import ipfshttpclient
import requests  # ipfshttpclient's transport
import ipfshttpclient.exceptions as ipfs_exc
from ipfshttpclient import multipart

from .cids import CidLike, cid_str, parse_cid, verify_block
from .dag import cat as dag_cat
from .errors import BlockNotFound, IntegrityError, IpfsError, IpfsUnavailable, NotPinned
from .importer import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS
from .store import AddOptions, AddResult, BlockStat, CarFiles, CarImportResult, PathOrFile, Pin, PinType, pin_types_for

log = logging.getLogger(__name__)
# ipfshttpclient passes urllib3 a long-gone argument on every request; the warning is noise.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)
T = TypeVar("T")

DEFAULT_KUBO_ADDR = "http://127.0.0.1:5001"
PUT_MANY_REQUESTS = 8  # block_put_many: requests to the daemon at once


def to_multiaddr(addr: str) -> str:
    """``http://host:port`` (or ``host:port``, or a multiaddr) as an HTTP multiaddr."""
    if addr.startswith("/"):
        return addr
    if "://" not in addr:
        addr = "http://" + addr
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an RPC address: {addr!r} (expected http://host:port or a multiaddr)")
    host = parts.hostname
    try:
        proto = "ip6" if ipaddress.ip_address(host).version == 6 else "ip4"
    except ValueError:
        proto = "dns"
    port = parts.port or (443 if parts.scheme == "https" else 5001)
    return f"/{proto}/{host}/tcp/{port}/{parts.scheme}"


class _CountingReader(io.RawIOBase):
    """Counts bytes read from a stream on their way to the daemon."""

    def __init__(self, inner: BinaryIO, name: str = "file") -> None:
        self._inner = inner
        self.count = 0
        self.name = name

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)


class KuboStore(CarFiles):
    """Content store backed by a Kubo daemon (or anything speaking its RPC, like
    ``twinledger ipfs serve``). ``verify_reads``: read files block by block and check every
    block's hash here, instead of trusting the daemon's ``/cat`` stream."""

    def __init__(self, addr: str = DEFAULT_KUBO_ADDR, *, timeout: float = 120.0,
                 connect_timeout: float = 5.0, verify_reads: bool = True) -> None:
        self.addr = addr
        self._put_pool: ThreadPoolExecutor | None = None  # block_put_many's requests, made on first use
        self.multiaddr = to_multiaddr(addr)
        self.timeout = (connect_timeout, timeout)
        self.verify_reads = verify_reads
        self._client = ipfshttpclient.Client(self.multiaddr, timeout=self.timeout)

    # ---- plumbing ---------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ipfs_exc.ConnectionError:
            raise IpfsUnavailable(f"no IPFS daemon at {self.addr}") from None
        except ipfs_exc.TimeoutError:
            raise IpfsUnavailable(f"IPFS daemon at {self.addr} did not answer within {self.timeout[1]}s") from None
        except ipfs_exc.ErrorResponse as exc:
            raise _map_error(str(exc)) from None
        except ipfs_exc.Error as exc:
            raise IpfsError(f"IPFS RPC error from {self.addr}: {exc}") from None
        except requests.RequestException as exc:  # raised unwrapped while streaming a body
            raise IpfsError(f"IPFS RPC stream from {self.addr} failed: {exc}") from None

    def _request(self, path: str, args: tuple[str, ...] = (), **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return self._call(lambda: self._client._client.request(path, args, **kwargs))

    def _stream(self, path: str, args: tuple[str, ...], opts: dict[str, Any]) -> Iterator[bytes]:
        """Raw response body as it arrives; connection errors are mapped on every chunk."""
        it = self._request(path, args, opts=opts, stream=True)
        while True:
            chunk = self._call(lambda: next(it, None))
            if chunk is None:
                return
            yield chunk

    def version(self) -> dict[str, Any]:
        return dict(self._request("/version", decoder="json")[0])

    # ---- files --------------------------------------------------------------------------------

    def add_bytes(self, data: bytes, *, cid_version: int = 1, raw_leaves: Optional[bool] = None,
                  chunk_size: int = DEFAULT_CHUNK_SIZE, max_links: int = DEFAULT_MAX_LINKS,
                  only_hash: bool = False, pin: bool = True) -> AddResult:
        return self.add_file(io.BytesIO(data), cid_version=cid_version, raw_leaves=raw_leaves,
                             chunk_size=chunk_size, max_links=max_links, only_hash=only_hash, pin=pin)

    def add_file(self, source: PathOrFile, *, cid_version: int = 1, raw_leaves: Optional[bool] = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, max_links: int = DEFAULT_MAX_LINKS,
                 only_hash: bool = False, pin: bool = True) -> AddResult:
        opts = AddOptions(cid_version, raw_leaves, chunk_size, max_links, only_hash, pin)
        params = opts.import_params()
        query: dict[str, Any] = {
            "cid-version": params.cid_version,
            "raw-leaves": params.use_raw_leaves,
            "chunker": f"size-{params.chunk_size}",
            "only-hash": only_hash,
            "pin": pin,
            "quieter": True,
        }
        if params.max_links != DEFAULT_MAX_LINKS:  # older daemons reject the option
            query["max-file-links"] = params.max_links
        if hasattr(source, "read"):
            return self._add_stream(source, query)  # type: ignore[arg-type]
        with open(os.fspath(source), "rb") as f:
            return self._add_stream(f, query)

    def _add_stream(self, stream: BinaryIO, query: dict[str, Any]) -> AddResult:
        counter = _CountingReader(stream)
        body, headers = multipart.stream_files(counter, chunk_size=1 << 20)
        lines = self._request("/add", decoder="json", opts=query, data=body, headers=headers)
        last = lines[-1]
        return AddResult(cid_str(last["Hash"]), counter.count, int(last.get("Size", 0)))

    def cat_iter(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> Iterator[bytes]:
        c = parse_cid(cid)
        if self.verify_reads:
            return dag_cat(lambda child: self.block_get(child), c, offset, length)
        opts: dict[str, Any] = {"offset": offset}
        if length is not None:
            opts["length"] = length
        return self._stream("/cat", (cid_str(c),), opts)

    def cat(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> bytes:
        return b"".join(self.cat_iter(cid, offset=offset, length=length))

    # ---- blocks -------------------------------------------------------------------------------

    def block_get(self, cid: CidLike) -> bytes:
        c = parse_cid(cid)
        data = self._request("/block/get", (cid_str(c),))
        verify_block(c, data)
        return bytes(data)

    def block_put(self, data: bytes, *, codec: str = "raw", mhtype: str = "sha2-256",
                  cid_version: int = 1, pin: bool = False) -> BlockStat:
        opts: dict[str, Any] = {"mhtype": mhtype, "pin": pin}
        if cid_version == 0:
            opts["format"] = "v0"
        else:
            opts["cid-codec"] = codec
        body, headers = multipart.stream_files(io.BytesIO(data), chunk_size=1 << 20)
        res = self._request("/block/put", decoder="json", opts=opts, data=body, headers=headers)[0]
        return BlockStat(cid_str(res["Key"]), int(res["Size"]))

    def block_put_many(self, blocks: Sequence[bytes], *, codec: str = "raw", mhtype: str = "sha2-256",
                       cid_version: int = 1, pin: bool = False) -> list[BlockStat]:
        """`block_put` of each, several requests at once (the daemon syncs each block itself)."""
        def put(data: bytes) -> BlockStat:
            return self.block_put(data, codec=codec, mhtype=mhtype, cid_version=cid_version, pin=pin)

        if len(blocks) <= 1:
            return [put(data) for data in blocks]
        if self._put_pool is None:
            self._put_pool = ThreadPoolExecutor(max_workers=PUT_MANY_REQUESTS, thread_name_prefix="kubo-put")
        return list(self._put_pool.map(put, blocks))

    def block_has(self, cid: CidLike) -> bool:
        try:
            self._request("/block/stat", (cid_str(parse_cid(cid)),), decoder="json", offline=True)
            return True
        except BlockNotFound:
            return False

    def block_stat(self, cid: CidLike) -> BlockStat:
        res = self._request("/block/stat", (cid_str(parse_cid(cid)),), decoder="json")[0]
        return BlockStat(cid_str(res["Key"]), int(res["Size"]))

    # ---- pins ---------------------------------------------------------------------------------

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> list[str]:
        res = self._request("/pin/add", (cid_str(parse_cid(cid)),), decoder="json",
                            opts={"recursive": recursive})
        return [cid_str(p) for line in res for p in line.get("Pins") or []]

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> list[str]:
        res = self._request("/pin/rm", (cid_str(parse_cid(cid)),), decoder="json",
                            opts={"recursive": recursive})
        return [cid_str(p) for line in res for p in line.get("Pins") or []]

    def pin_ls(self, cid: Optional[CidLike] = None, *, type: str = "all") -> list[Pin]:
        pin_types_for(type)  # validate before the round trip
        args = (cid_str(parse_cid(cid)),) if cid is not None else ()
        res = self._request("/pin/ls", args, decoder="json", opts={"type": type})
        pins = []
        for line in res:
            for key, info in (line.get("Keys") or {}).items():
                kind = str(info.get("Type", "")).split(" ", 1)[0]  # "indirect through <cid>"
                pins.append(Pin(cid_str(key), PinType(kind)))
        return sorted(pins, key=lambda p: (p.type.value, p.cid))

    # ---- CAR ----------------------------------------------------------------------------------

    def export_car_iter(self, root: CidLike) -> Iterator[bytes]:
        return self._stream("/dag/export", (cid_str(parse_cid(root)),), {})

    def _import_car(self, stream: BinaryIO, pin_roots: bool) -> CarImportResult:
        body, headers = multipart.stream_files(_CountingReader(stream, "import.car"), chunk_size=1 << 20)
        res = self._request("/dag/import", decoder="json", data=body, headers=headers,
                            opts={"pin-roots": pin_roots, "stats": True})
        roots: list[str] = []
        errors: dict[str, str] = {}
        blocks = size = 0
        for line in res:
            if "Root" in line:
                root = cid_str(line["Root"]["Cid"]["/"])
                roots.append(root)
                if line["Root"].get("PinErrorMsg"):
                    errors[root] = line["Root"]["PinErrorMsg"]
            if "Stats" in line:
                blocks = int(line["Stats"].get("BlockCount", 0))
                size = int(line["Stats"].get("BlockBytesCount", 0))
        return CarImportResult(roots, blocks, size, errors)

    def close(self) -> None:
        if self._put_pool is not None:
            self._put_pool.shutdown(wait=True)
            self._put_pool = None
        self._client.close()

    def __repr__(self) -> str:
        return f"KuboStore({self.addr!r})"


def _map_error(message: str) -> IpfsError:
    lowered = message.lower()
    if "not found" in lowered or "could not find" in lowered:
        cid = message.rsplit(" ", 1)[-1]
        err = BlockNotFound(cid)
        err.args = (message,)
        return err
    if "integrity check failed for block" in lowered:
        cid = message.split("for block ", 1)[1].split(":", 1)[0].strip()
        return IntegrityError(cid, "reported by the daemon")
    if "not pinned" in lowered:
        return NotPinned(message)
    return IpfsError(message)

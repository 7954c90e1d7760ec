"""A subset of Kubo's RPC API (``/api/v0``) over any :class:`ContentStore`, on aiohttp.

curl, ipfshttpclient and other Kubo RPC clients work unchanged for: add, cat, block/get,
block/put, block/stat, pin/add, pin/rm, pin/ls, dag/export, dag/import, version, id.
Errors use Kubo's JSON shape ``{"Message", "Code": 0, "Type": "error"}``. Store calls block,
so they run on worker threads; uploads are streamed to them through a bounded queue.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import platform
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, BinaryIO, Callable, Iterator, Optional, cast
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from multiformats import multibase

from . import importer
from .errors import BlockNotFound, InvalidCid, IpfsError, NotPinned
from .store import ContentStore, pin_types_for
from ..errors import TwinLedgerError

log = logging.getLogger(__name__)

API_VERSION = "0.29.0"  # the Kubo RPC version whose subset is served
AGENT = "twinledger-embedded/0.1.0"
MAX_BLOCK_SIZE = 1024 * 1024  # Kubo's block put limit without --allow-big-block
_UPLOAD_CHUNK = 1 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(TwinLedgerError):
    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


def error_response(message: str, status: int) -> web.Response:
    body = json.dumps({"Message": message, "Code": 0, "Type": "error"}) + "\n"
    return web.Response(status=status, text=body, content_type="application/json")


# ---- peer identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerIdentity:
    peer_id: str
    public_key_b64: str

    @staticmethod
    def load_or_create(path: Optional[Path]) -> "PeerIdentity":
        """An Ed25519 libp2p identity, persisted as its 32-byte seed when ``path`` is given."""
        if path is not None and path.exists():
            key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
        else:
            key = Ed25519PrivateKey.generate()
            if path is not None:
                seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(seed)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
                key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        proto = b"\x08\x01\x12\x20" + pub  # libp2p PublicKey{Type: Ed25519, Data}
        peer_id = multibase.encode(b"\x00\x24" + proto, "base58btc")[1:]  # drop the 'z' prefix
        return PeerIdentity(peer_id, base64.b64encode(proto).decode())


# ---- argument parsing ---------------------------------------------------------------------


def _bool(request: web.Request, name: str, default: Optional[bool]) -> Optional[bool]:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("", "true", "1", "t", "yes"):
        return True
    if value in ("false", "0", "f", "no"):
        return False
    raise ApiError(f'invalid value for option "{name}": {raw!r} is not a bool', 400)


def _int(request: web.Request, name: str, default: Optional[int]) -> Optional[int]:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(f'invalid value for option "{name}": {raw!r} is not an integer', 400) from None


def _args(request: web.Request, name: str, required: bool = True) -> list[str]:
    values = request.query.getall("arg", [])
    if required and not values:
        raise ApiError(f'argument "{name}" is required', 400)
    return values


# ---- upload bridge ------------------------------------------------------------------------

_EOF = object()


def _as_stream(reader: "_QueueReader") -> BinaryIO:
    """The stores read an upload only through ``read(n)``, which the queue reader provides."""
    return cast(BinaryIO, reader)


class _QueueReader:
    """File-like ``read(n)`` on the worker thread, fed chunk by chunk from the event loop."""

    def __init__(self, maxsize: int = 8) -> None:
        self.q: "queue.Queue[Any]" = queue.Queue(maxsize=maxsize)
        self._buf = bytearray()
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        while not self._eof and (n < 0 or len(self._buf) < n):
            item = self.q.get()
            if item is _EOF:
                self._eof = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._buf += item
        if n < 0 or n >= len(self._buf):
            out, self._buf = bytes(self._buf), bytearray()
        else:
            out = bytes(self._buf[:n])
            del self._buf[:n]
        return out


class RpcServer:
    """The aiohttp application and its handlers, bound to one store."""

    def __init__(self, store: ContentStore, identity: Optional[PeerIdentity] = None) -> None:
        self.store = store
        self.identity = identity or PeerIdentity.load_or_create(None)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ipfs-rpc")
        self.handlers: dict[str, Handler] = {
            "add": self.add, "cat": self.cat,
            "block/get": self.block_get, "block/put": self.block_put, "block/stat": self.block_stat,
            "pin/add": self.pin_add, "pin/rm": self.pin_rm, "pin/ls": self.pin_ls,
            "dag/export": self.dag_export, "dag/import": self.dag_import,
            "version": self.version, "id": self.id,
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BLOCK_SIZE * 2)
        app.router.add_route("*", "/api/v0/{command:.*}", self.dispatch)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _app: web.Application) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        command = request.match_info["command"].strip("/")
        handler = self.handlers.get(command)
        if handler is None:
            return error_response(f"unknown command: {command!r} is not served by this node", 404)
        if request.method != "POST":
            return error_response(f"{request.method} not allowed: the RPC API only accepts POST", 405)
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(str(exc), exc.status)
        except BlockNotFound as exc:
            return error_response(f"block was not found locally (offline): ipld: could not find {exc.cid}", 500)
        except InvalidCid as exc:
            return error_response(f"invalid path: {exc}", 500)
        except (IpfsError, ValueError) as exc:
            return error_response(str(exc), 500)
        except ConnectionResetError:
            raise
        except Exception as exc:  # a bug here must not kill the server
            log.exception("RPC %s failed", command)
            return error_response(f"internal error: {exc}", 500)

    # ---- helpers ----------------------------------------------------------------------------

    async def _stream_out(self, request: web.Request, chunks: Iterator[bytes],
                          content_type: str = "application/octet-stream") -> web.StreamResponse:
        """Stream a blocking iterator. Errors before the first byte become JSON errors; later
        ones abort the connection, so a client never mistakes a cut stream for the content."""
        first = await self.run(next, chunks, None)
        resp = web.StreamResponse(headers={"X-Stream-Output": "1", "Content-Type": content_type})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = first
        while chunk is not None:
            await resp.write(chunk)
            try:
                chunk = await self.run(next, chunks, None)
            except Exception as exc:  # noqa: BLE001 - a request's top: a failed stream is cut, the server lives on
                log.error("stream aborted: %s", exc)
                if request.transport is not None:
                    request.transport.close()
                return resp
        await resp.write_eof()
        return resp

    async def _ndjson(self, request: web.Request, lines: list[dict[str, Any]]) -> web.StreamResponse:
        text = "".join(json.dumps(line) + "\n" for line in lines)
        return web.Response(text=text, content_type="application/json", headers={"X-Chunked-Output": "1"})

    async def _feed(self, part: BodyPartReader, reader: _QueueReader, job: "asyncio.Future[Any]") -> None:
        """Copy an upload part into ``reader`` without blocking the loop; stop if the job died."""
        loop = asyncio.get_running_loop()

        def put(item: Any) -> bool:
            while not job.done():
                try:
                    reader.q.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            while True:
                chunk = await part.read_chunk(_UPLOAD_CHUNK)
                if not chunk:
                    break
                if not await loop.run_in_executor(self._pool, put, chunk):
                    return
            await loop.run_in_executor(self._pool, put, _EOF)
        except Exception as exc:
            await loop.run_in_executor(self._pool, put, exc)
            raise

    async def _file_parts(self, request: web.Request) -> Any:
        if not request.content_type.startswith("multipart/"):
            raise ApiError("file argument 'path' is required (send a multipart/form-data body)", 400)
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                return
            if not isinstance(part, BodyPartReader):
                raise ApiError("nested multipart bodies are not supported", 400)
            if part.headers.get("Content-Type", "").startswith("application/x-directory"):
                await part.release()
                raise ApiError("adding directories is not supported by this node", 400)
            yield part

    async def _consume_upload(self, part: BodyPartReader, work: Callable[[_QueueReader], Any]) -> Any:
        src = _QueueReader()
        job = asyncio.ensure_future(self.run(work, src))
        try:
            await self._feed(part, src, job)
        finally:
            result = await job
        return result

    # ---- endpoints --------------------------------------------------------------------------

    async def add(self, request: web.Request) -> web.StreamResponse:
        cid_version = _int(request, "cid-version", 0)
        if _bool(request, "trickle", False):
            raise ApiError("trickle layout is not supported by this node", 400)
        if _bool(request, "wrap-with-directory", False):
            raise ApiError("wrap-with-directory is not supported by this node", 400)
        if _bool(request, "inline", False):
            raise ApiError("inline is not supported by this node", 400)
        if request.query.get("hash", "sha2-256") != "sha2-256":
            raise ApiError("only the sha2-256 hash function is supported by this node", 400)
        try:
            chunk_size = importer.parse_chunker(request.query.get("chunker"))
            params = importer.ImportParams(
                cid_version if cid_version is not None else 0,
                _bool(request, "raw-leaves", None),
                chunk_size,
                _int(request, "max-file-links", importer.DEFAULT_MAX_LINKS) or importer.DEFAULT_MAX_LINKS,
            )
        except ValueError as exc:
            raise ApiError(str(exc), 400) from None
        only_hash = bool(_bool(request, "only-hash", False))
        pin = bool(_bool(request, "pin", True))
        quieter = bool(_bool(request, "quieter", False))
        lines: list[dict[str, Any]] = []
        async for part in self._file_parts(request):
            name = unquote(part.filename or "")

            def work(src: _QueueReader) -> Any:
                return self.store.add_file(_as_stream(src), cid_version=params.cid_version, raw_leaves=params.use_raw_leaves,
                                           chunk_size=params.chunk_size, max_links=params.max_links,
                                           only_hash=only_hash, pin=pin)

            result = await self._consume_upload(part, work)
            lines.append({"Name": os.path.basename(name) or result.cid, "Hash": result.cid,
                          "Size": str(result.cumulative_size)})
        if not lines:
            raise ApiError("file argument 'path' is required", 400)
        return await self._ndjson(request, lines[-1:] if quieter else lines)

    async def cat(self, request: web.Request) -> web.StreamResponse:
        cid = _args(request, "ipfs-path")[0]
        offset = _int(request, "offset", 0) or 0
        length = _int(request, "length", None)
        if offset < 0 or (length is not None and length < 0):
            raise ApiError("offset and length must not be negative", 400)
        return await self._stream_out(request, self.store.cat_iter(cid, offset=offset, length=length),
                                      "text/plain")

    async def block_get(self, request: web.Request) -> web.StreamResponse:
        data = await self.run(self.store.block_get, _args(request, "cid")[0])
        return web.Response(body=data, content_type="text/plain")

    async def block_stat(self, request: web.Request) -> web.StreamResponse:
        stat = await self.run(self.store.block_stat, _args(request, "cid")[0])
        return web.json_response({"Key": stat.cid, "Size": stat.size})

    async def block_put(self, request: web.Request) -> web.StreamResponse:
        codec, version = _block_format(request)
        mhtype = request.query.get("mhtype", "sha2-256")
        pin = bool(_bool(request, "pin", False))
        limit = None if _bool(request, "allow-big-block", False) else MAX_BLOCK_SIZE
        lines = []
        async for part in self._file_parts(request):
            data = bytearray()
            while chunk := await part.read_chunk(_UPLOAD_CHUNK):
                data += chunk
                if limit is not None and len(data) > limit:
                    raise ApiError(f"produced block is over {limit // 1024 // 1024}MiB: "
                                   "big blocks can't be exchanged with other peers", 400)
            stat = await self.run(lambda: self.store.block_put(bytes(data), codec=codec, mhtype=mhtype,  # noqa: B023 - awaited here
                                                               cid_version=version, pin=pin))
            lines.append({"Key": stat.cid, "Size": stat.size})
        if not lines:
            raise ApiError("file argument 'data' is required", 400)
        return await self._ndjson(request, lines)

    async def pin_add(self, request: web.Request) -> web.StreamResponse:
        recursive = bool(_bool(request, "recursive", True))
        pins: list[str] = []
        for cid in _args(request, "ipfs-path"):
            pins += await self.run(lambda c=cid: self.store.pin_add(c, recursive=recursive))
        return web.json_response({"Pins": pins})

    async def pin_rm(self, request: web.Request) -> web.StreamResponse:
        recursive = bool(_bool(request, "recursive", True))
        pins: list[str] = []
        for cid in _args(request, "ipfs-path"):
            pins += await self.run(lambda c=cid: self.store.pin_rm(c, recursive=recursive))
        return web.json_response({"Pins": pins})

    async def pin_ls(self, request: web.Request) -> web.StreamResponse:
        kind = request.query.get("type", "all")
        try:
            pin_types_for(kind)
        except ValueError as exc:
            raise ApiError(str(exc), 400) from None
        args = _args(request, "ipfs-path", required=False)
        pins = []
        wanted: list[str | None] = [*args] if args else [None]
        for cid in wanted:
            try:
                pins += await self.run(lambda c=cid: self.store.pin_ls(c, type=kind))
            except NotPinned as exc:
                raise ApiError(str(exc), 500) from None
        if _bool(request, "stream", False):
            return await self._ndjson(request, [{"Cid": p.cid, "Type": p.type.value} for p in pins])
        return web.json_response({"Keys": {p.cid: {"Type": p.type.value} for p in pins}})

    async def dag_export(self, request: web.Request) -> web.StreamResponse:
        root = _args(request, "root")[0]
        return await self._stream_out(request, self.store.export_car_iter(root), "application/vnd.ipld.car")

    async def dag_import(self, request: web.Request) -> web.StreamResponse:
        pin_roots = bool(_bool(request, "pin-roots", True))
        stats = bool(_bool(request, "stats", False))
        lines: list[dict[str, Any]] = []
        blocks = size = 0
        async for part in self._file_parts(request):
            result = await self._consume_upload(part, lambda src: self.store.import_car(_as_stream(src), pin_roots=pin_roots))
            blocks += result.blocks
            size += result.bytes
            for root in result.roots:
                lines.append({"Root": {"Cid": {"/": root}, "PinErrorMsg": result.pin_errors.get(root, "")}})
        if stats:
            lines.append({"Stats": {"BlockCount": blocks, "BlockBytesCount": size}})
        return await self._ndjson(request, lines)

    async def version(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"Version": API_VERSION, "Commit": "", "Repo": AGENT,
                                  "System": f"{platform.machine()}/{platform.system().lower()}",
                                  "Golang": f"python{platform.python_version()}"})

    async def id(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ID": self.identity.peer_id, "PublicKey": self.identity.public_key_b64,
                                  "Addresses": [], "AgentVersion": AGENT, "Protocols": []})


def _block_format(request: web.Request) -> tuple[str, int]:
    """(codec, CID version) from Kubo's ``cid-codec`` or legacy ``format`` options."""
    codec = request.query.get("cid-codec")
    fmt = request.query.get("format")
    if codec and fmt:
        raise ApiError("unable to use \"format\" (deprecated) and a custom \"cid-codec\" at the same time", 400)
    if fmt:
        legacy = {"v0": ("dag-pb", 0), "protobuf": ("dag-pb", 0), "dag-pb": ("dag-pb", 0),
                  "cbor": ("dag-cbor", 1), "dag-cbor": ("dag-cbor", 1), "raw": ("raw", 1)}
        if fmt not in legacy:
            raise ApiError(f"unrecognized format: {fmt}", 400)
        return legacy[fmt]
    return (codec or "raw"), 1


# ---- running --------------------------------------------------------------------------------


class ServerThread:
    """Serve a store on 127.0.0.1 from a background thread (port 0: pick a free one)."""

    def __init__(self, store: ContentStore, host: str = "127.0.0.1", port: int = 0,
                 identity: Optional[PeerIdentity] = None) -> None:
        self.rpc = RpcServer(store, identity)
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._runner: Optional[web.AppRunner] = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="ipfs-rpc-loop", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ServerThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.rpc.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(store: ContentStore, host: str = "127.0.0.1", port: int = 5001,
          identity: Optional[PeerIdentity] = None, ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve until interrupted. ``ready`` is called with the URL once the port is bound."""

    async def main() -> None:
        runner = web.AppRunner(RpcServer(store, identity).app())
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if ready is not None:
            ready(f"http://{host}:{bound}")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

"""``twinledger ipfs``: add, cat, serve (a Kubo-compatible RPC API), blocks, pins and CARs.

``add`` defaults to Kubo's own defaults (CIDv0, 256 KiB, dag-pb leaves) so that its output
matches ``ipfs add`` flag for flag; the Python API defaults to the project's CIDv1 settings.
Try it without the main CLI: ``python -m twinledger.cli.ipfs --help``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, TypeVar, cast

import click

from ..ipfs.cids import cid_str
from ..ipfs.embedded import EmbeddedStore
from ..ipfs.errors import IpfsError
from ..ipfs.factory import default_spec, open_store
from ..ipfs.importer import DEFAULT_MAX_LINKS, ImportParams, import_stream, parse_chunker
from ..ipfs.store import ContentStore

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn expected failures into one readable line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except (IpfsError, ValueError) as exc:
            raise click.ClickException(str(exc) or exc.__class__.__name__) from None

    return cast(F, wrapper)


def _store(ctx: click.Context) -> ContentStore:
    obj = ctx.ensure_object(dict)
    if "store" not in obj:
        obj["store"] = open_store(obj.get("spec"))
        ctx.call_on_close(obj["store"].close)
    return cast(ContentStore, obj["store"])


@click.group("ipfs")
@click.option("--store", "spec", envvar="TWINLEDGER_IPFS", default=None, metavar="SPEC",
              help="embedded:/path/to/dir (default ~/.twinledger/ipfs) or kubo:http://127.0.0.1:5001")
@click.pass_context
def ipfs_group(ctx: click.Context, spec: Optional[str]) -> None:
    """Content-addressed storage (embedded IPFS node or a Kubo daemon)."""
    if spec is None and ctx.parent is not None:  # under `twinledger`: its --ipfs option or the dev stack
        spec = getattr(ctx.parent.obj, "store_spec", None)
    ctx.obj = {"spec": spec}


@ipfs_group.command("add")
@click.argument("file")
@click.option("-n", "--only-hash", is_flag=True, help="Only chunk and hash; write nothing.")
@click.option("--cid-version", type=click.IntRange(0, 1), default=0, show_default=True)
@click.option("--raw-leaves/--no-raw-leaves", default=None, help="Default: raw leaves iff CIDv1 (as Kubo).")
@click.option("--chunker", "-s", default="size-262144", show_default=True, help="size-N")
@click.option("--max-file-links", type=click.IntRange(2), default=DEFAULT_MAX_LINKS, show_default=True)
@click.option("--pin/--no-pin", default=True, show_default=True)
@click.pass_context
@_friendly
def add_cmd(ctx: click.Context, file: str, only_hash: bool, cid_version: int, raw_leaves: Optional[bool],
            chunker: str, max_file_links: int, pin: bool) -> None:
    """Add FILE ('-' for stdin) and print its CID."""
    params = ImportParams(cid_version, raw_leaves, parse_chunker(chunker), max_file_links)
    with _open_input(file) as stream:
        if only_hash:  # no store needed, nothing written
            click.echo(cid_str(import_stream(stream, params).cid))
            return
        result = _store(ctx).add_file(stream, cid_version=params.cid_version, raw_leaves=params.use_raw_leaves,
                                      chunk_size=params.chunk_size, max_links=params.max_links, pin=pin)
    click.echo(result.cid)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    """A file, or stdin for '-'; opened here so a missing file is a one-line error."""
    if path == "-":
        yield click.get_binary_stream("stdin")
        return
    with open(path, "rb") as f:
        yield f


def _write_stdout(chunks: Iterator[bytes]) -> None:
    out = click.get_binary_stream("stdout")
    try:
        for piece in chunks:
            out.write(piece)
        out.flush()
    except BrokenPipeError:
        sys.stderr.close()  # reader went away (e.g. `| head`): not an error


@ipfs_group.command("cat")
@click.argument("cid")
@click.option("--offset", "-o", type=click.IntRange(0), default=0)
@click.option("--length", "-l", type=click.IntRange(0), default=None)
@click.pass_context
@_friendly
def cat_cmd(ctx: click.Context, cid: str, offset: int, length: Optional[int]) -> None:
    """Write the content of CID to stdout (verified block by block)."""
    chunks = _store(ctx).cat_iter(cid, offset=offset, length=length)
    first = next(chunks, None)  # surface errors before any output
    if first is not None:
        _write_stdout(_prepend(first, chunks))


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


@ipfs_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5001, show_default=True, help="0: any free port")
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
@_friendly
def serve_cmd(ctx: click.Context, host: str, port: int, verbose: bool) -> None:
    """Serve Kubo's RPC API subset for the store (Ctrl-C to stop)."""
    from ..ipfs.server import PeerIdentity, serve

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: the RPC API has no authentication; serving on {host}", err=True)
    store = _store(ctx)
    identity = PeerIdentity.load_or_create(store.path / "identity.key" if isinstance(store, EmbeddedStore) else None)

    def ready(url: str) -> None:
        click.echo(f"RPC API server listening on {url} (store: {ctx.obj.get('spec') or default_spec()})")
        sys.stdout.flush()

    serve(store, host, port, identity, ready)


# ---- blocks, pins, CARs -----------------------------------------------------------------------


@ipfs_group.group("block")
def block_group() -> None:
    """Raw blocks."""


@block_group.command("get")
@click.argument("cid")
@click.pass_context
@_friendly
def block_get_cmd(ctx: click.Context, cid: str) -> None:
    _write_stdout(iter([_store(ctx).block_get(cid)]))


@block_group.command("put")
@click.argument("file", type=click.File("rb"))
@click.option("--cid-codec", default="raw", show_default=True)
@click.option("--mhtype", default="sha2-256", show_default=True)
@click.option("--pin/--no-pin", default=False, show_default=True)
@click.pass_context
@_friendly
def block_put_cmd(ctx: click.Context, file: BinaryIO, cid_codec: str, mhtype: str, pin: bool) -> None:
    click.echo(_store(ctx).block_put(file.read(), codec=cid_codec, mhtype=mhtype, pin=pin).cid)


@block_group.command("stat")
@click.argument("cid")
@click.pass_context
@_friendly
def block_stat_cmd(ctx: click.Context, cid: str) -> None:
    stat = _store(ctx).block_stat(cid)
    click.echo(f"Key: {stat.cid}\nSize: {stat.size}")


@ipfs_group.group("pin")
def pin_group() -> None:
    """Pins keep content (and, recursively, its DAG) in the store."""


@pin_group.command("add")
@click.argument("cid")
@click.option("--recursive/--direct", default=True, show_default=True)
@click.pass_context
@_friendly
def pin_add_cmd(ctx: click.Context, cid: str, recursive: bool) -> None:
    for key in _store(ctx).pin_add(cid, recursive=recursive):
        click.echo(f"pinned {key} {'recursively' if recursive else 'directly'}")


@pin_group.command("rm")
@click.argument("cid")
@click.pass_context
@_friendly
def pin_rm_cmd(ctx: click.Context, cid: str) -> None:
    for key in _store(ctx).pin_rm(cid):
        click.echo(f"unpinned {key}")


@pin_group.command("ls")
@click.argument("cid", required=False)
@click.option("--type", "kind", type=click.Choice(["all", "direct", "indirect", "recursive"]), default="all")
@click.pass_context
@_friendly
def pin_ls_cmd(ctx: click.Context, cid: Optional[str], kind: str) -> None:
    for p in _store(ctx).pin_ls(cid, type=kind):
        click.echo(f"{p.cid} {p.type.value}")


@ipfs_group.group("dag")
def dag_group() -> None:
    """CAR export and import."""


@dag_group.command("export")
@click.argument("cid")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@_friendly
def dag_export_cmd(ctx: click.Context, cid: str, dest: Path) -> None:
    """Write the DAG under CID to DEST as a CAR v1 file."""
    size = _store(ctx).export_car(cid, dest)
    click.echo(f"wrote {size} bytes to {dest}")


@dag_group.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pin-roots/--no-pin-roots", default=True, show_default=True)
@click.pass_context
@_friendly
def dag_import_cmd(ctx: click.Context, source: Path, pin_roots: bool) -> None:
    """Import a CAR file (every block is verified) and print its roots."""
    result = _store(ctx).import_car(source, pin_roots=pin_roots)
    for root in result.roots:
        error = result.pin_errors.get(root)
        click.echo(f"{root}" + (f" (not pinned: {error})" if error else ""))


if __name__ == "__main__":
    ipfs_group(prog_name="twinledger ipfs")

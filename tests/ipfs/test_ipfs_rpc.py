"""The Kubo-compatible RPC server, exercised over real HTTP by raw requests, ipfshttpclient and
the Kubo backend (KuboStore), plus a real ``twinledger ipfs serve`` subprocess."""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import ipfshttpclient
import pytest

from ipfs_testdata import seeded
from twinledger.ipfs import (
    BlockNotFound,
    EmbeddedStore,
    IntegrityError,
    IpfsError,
    IpfsUnavailable,
    KuboStore,
    PinType,
    parse_cid,
)
from twinledger.ipfs.server import ServerThread

MB = 1024 * 1024
HELLO_V0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"


def post(url: str, body: bytes = b"", content_type: str | None = None, method: str = "POST") -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def multipart(data: bytes, filename: str = "hello.txt") -> tuple[bytes, str]:
    boundary = "tlboundary1234"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def client(server: ServerThread) -> Any:
    return ipfshttpclient.Client(f"/ip4/127.0.0.1/tcp/{server.port}/http", timeout=30)


def test_add_over_raw_http_like_curl(server: ServerThread) -> None:
    body, ctype = multipart(b"hello world")
    status, out = post(f"{server.url}/api/v0/add?pin=true", body, ctype)
    assert status == 200
    assert json.loads(out.decode().splitlines()[-1]) == {"Name": "hello.txt", "Hash": HELLO_V0, "Size": "19"}
    status, out = post(f"{server.url}/api/v0/add?cid-version=1&only-hash=true&quieter=true", body, ctype)
    assert json.loads(out)["Hash"] == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    status, out = post(f"{server.url}/api/v0/cat?arg={HELLO_V0}")
    assert (status, out) == (200, b"hello world")


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({}, HELLO_V0),
        # ipfshttpclient always sends raw-leaves (false when unset), so CIDv1 needs it explicitly
        ({"cid_version": 1, "raw_leaves": True}, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        ({"cid_version": 1, "raw_leaves": False}, "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"),
    ],
)
def test_ipfshttpclient_add_matches_kubo(server: ServerThread, opts: dict[str, Any], expected: str) -> None:
    with client(server) as c:
        assert c.add(io.BytesIO(b"hello world"), only_hash=True, **opts)["Hash"] == expected


def test_ipfshttpclient_full_surface(server: ServerThread, store: EmbeddedStore) -> None:
    data = seeded(1048577)
    with client(server) as c:
        res = c.add(io.BytesIO(data), chunker="size-262144")
        assert res["Hash"] == "Qme9q1rEyrCRD2WvCtjYSmLt2g2cekYM1C4Tn5mRivzuyB"
        assert c.cat(res["Hash"]) == data
        assert c.cat(res["Hash"], offset=10, length=5) == data[10:15]
        assert c.block.put(io.BytesIO(b"abc"))["Key"] == "bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu"
        assert c.block.get("bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu") == b"abc"
        assert c.block.stat(res["Hash"])["Size"] > 0
        assert res["Hash"] in c.pin.ls(type="recursive")["Keys"]
        c.pin.rm(res["Hash"])
        assert res["Hash"] not in c.pin.ls()["Keys"]
        assert c.pin.add(res["Hash"])["Pins"] == [res["Hash"]]
        assert c.id()["ID"].startswith("12D3KooW")
        assert c.version()["Version"]
    assert store.cat(res["Hash"]) == data


def test_kubo_style_errors(server: ServerThread) -> None:
    def err(status_body: tuple[int, bytes]) -> tuple[int, str]:
        status, body = status_body
        doc = json.loads(body)
        assert doc["Type"] == "error" and doc["Code"] == 0
        return status, doc["Message"]

    assert err(post(f"{server.url}/api/v0/version", method="GET"))[0] == 405
    assert err(post(f"{server.url}/api/v0/no/such/thing"))[0] == 404
    assert err(post(f"{server.url}/api/v0/cat")) == (400, 'argument "ipfs-path" is required')
    status, msg = err(post(f"{server.url}/api/v0/cat?arg=bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"))
    assert status == 500 and "not found" in msg
    assert err(post(f"{server.url}/api/v0/block/get?arg=notacid"))[0] == 500
    body, ctype = multipart(b"x")
    assert err(post(f"{server.url}/api/v0/add?chunker=rabin", body, ctype))[0] == 400
    assert err(post(f"{server.url}/api/v0/add?pin=maybe", body, ctype))[0] == 400
    assert err(post(f"{server.url}/api/v0/add"))[0] == 400
    assert err(post(f"{server.url}/api/v0/pin/rm?arg={HELLO_V0}"))[0] == 500


def test_kubo_backend_against_the_rpc_server(kubo: KuboStore, tmp_path: Path) -> None:
    data = random.Random(5).randbytes(3 * MB + 3)
    res = kubo.add_bytes(data)
    assert res.size == len(data) and res.cid.startswith("bafybei")
    assert kubo.cat(res.cid) == data
    assert kubo.cat(res.cid, offset=MB, length=100) == data[MB:MB + 100]
    assert kubo.add_bytes(data, only_hash=True).cid == res.cid
    assert kubo.add_bytes(b"hello world", cid_version=0).cid == HELLO_V0
    assert kubo.add_bytes(data, chunk_size=65536, max_links=8).cid != res.cid
    stat = kubo.block_put(b"abc", pin=True)
    assert kubo.block_get(stat.cid) == b"abc" and kubo.block_has(stat.cid)
    assert kubo.block_stat(stat.cid) == stat
    many = kubo.block_put_many([b"abc", b"de", b"fgh"], pin=True)
    assert many[0] == stat and [kubo.block_get(s.cid) for s in many] == [b"abc", b"de", b"fgh"]
    assert not kubo.block_has("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    with pytest.raises(BlockNotFound):
        kubo.block_get("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    kinds = {p.cid: p.type for p in kubo.pin_ls()}
    assert kinds[res.cid] is PinType.RECURSIVE and kinds[stat.cid] is PinType.DIRECT
    assert kubo.pin_rm(stat.cid) == [stat.cid]
    assert kubo.pin_add(stat.cid, recursive=False) == [stat.cid]
    car = tmp_path / "x.car"
    kubo.export_car(res.cid, car)
    fresh = EmbeddedStore(tmp_path / "fresh")
    with ServerThread(fresh) as other:
        imported = KuboStore(other.url).import_car(car)
    assert imported.roots == [res.cid] and imported.blocks == 14  # 13 leaves + root
    assert fresh.cat(res.cid) == data


def test_kubo_backend_never_returns_corrupt_data(kubo: KuboStore, store: EmbeddedStore) -> None:
    data = random.Random(6).randbytes(MB)
    res = store.add_bytes(data)
    second_leaf = store.add_bytes(data[262144:524288], pin=False).cid
    path = Path(store._block_path(parse_cid(second_leaf)))
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=second_leaf):
        kubo.cat(res.cid)  # verified reads: the server refuses the block
    streaming = KuboStore(kubo.addr, verify_reads=False)
    got = bytearray()
    with pytest.raises(IpfsError):
        for piece in streaming.cat_iter(res.cid):  # the server cuts the stream at the bad block
            got += piece
    assert len(got) <= 262144 and data.startswith(bytes(got))


def test_absent_daemon_is_reported_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    k = KuboStore(f"http://127.0.0.1:{port}", connect_timeout=2)
    start = time.monotonic()
    with pytest.raises(IpfsUnavailable, match=f"no IPFS daemon at http://127.0.0.1:{port}"):
        k.add_bytes(b"x")
    with pytest.raises(IpfsUnavailable):
        k.cat(HELLO_V0)
    assert time.monotonic() - start < 5


def test_serve_subprocess(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "twinledger.cli.ipfs", "--store", f"embedded:{tmp_path / 's'}", "serve", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "listening on http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split("listening on ", 1)[1].split()[0]
        k = KuboStore(url)
        assert k.add_bytes(b"hello world", cid_version=0).cid == HELLO_V0
        assert k.cat(HELLO_V0) == b"hello world"
        peer = json.loads(post(f"{url}/api/v0/id")[1])["ID"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert EmbeddedStore(tmp_path / "s").cat(HELLO_V0) == b"hello world"
    assert (tmp_path / "s" / "identity.key").exists() and peer.startswith("12D3KooW")


@pytest.mark.large
@pytest.mark.timeout(180)
def test_100mb_round_trip_over_rpc(kubo: KuboStore, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(100 * MB)
    path.write_bytes(data)
    start = time.perf_counter()
    res = kubo.add_file(path)
    print(f"\nRPC add: {100 / (time.perf_counter() - start):.0f} MB/s")
    assert res.size == len(data)
    digest_ok = bytearray()
    for piece in KuboStore(kubo.addr, verify_reads=False).cat_iter(res.cid):
        digest_ok += piece
    assert digest_ok == data
    del digest_ok
    assert kubo.cat(res.cid, offset=99 * MB) == data[99 * MB:]

"""Gateway-aggregated anchoring: the gas of `GatewayAnchors.anchorWindow` from real receipts on anvil, for windows
of many feeds' device-signed batches stored on the embedded IPFS node, and what that lets one chain carry next to
the per-feed mode measured in the same run (`gas_anchor_many_signed_per_feed_10`)."""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import coincurve

from twinledger.formats.aggregate import Window, WindowLeaf
from twinledger.formats.cids import pack
from twinledger.formats.eip712 import AnchorMessage, domain_separator
from twinledger.formats.merkle import keccak256
from twinledger.ledger import gateway

from .batches import DEVICE_KEY
from .chainenv import AGENT_INDEX, BenchEnv
from .common import Results
from .limits import BLOCK_GAS_LIMIT, SENSOR_HZ, WINDOW_S

FEEDS_PER_WINDOW = 10_000
# The window's feeds are ids no registry issues on this chain, so the bench's windows never join the history of the
# feeds the other groups measure (a verifier would rightly report them there as foreign leaves).
SYNTHETIC_FEED0 = 10**12
BLOCK_TIMES_S = (2.0, 12.0)


class FastSigner:
    """The device key's EIP-712 `Anchor` signature, straight through secp256k1 (eth-account costs ~1 ms each)."""

    def __init__(self, key: str, chain_id: int, contract: str) -> None:
        self.key = coincurve.PrivateKey(bytes.fromhex(key.removeprefix("0x")))
        self.separator = domain_separator(chain_id, contract)

    def sign(self, m: AnchorMessage) -> bytes:
        sig = self.key.sign_recoverable(keccak256(b"\x19\x01" + self.separator + m.struct_hash()), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])


def signed_leaves(signer: FastSigner, feeds: int, window_no: int, readings: int = SENSOR_HZ) -> list[WindowLeaf]:
    """Batch `window_no` of each of `feeds` feeds, `readings` readings each, signed by the device key (the
    devices' work: each device signs its own batch)."""
    leaves = []
    for f in range(SYNTHETIC_FEED0, SYNTHETIC_FEED0 + feeds):
        root = keccak256(f"root {f} {window_no}".encode())
        cid = keccak256(f"cid {f} {window_no}".encode())
        prev = bytes(32) if window_no == 0 else keccak256(f"head {f} {window_no - 1}".encode())
        t0 = 1_700_000_000_000 + 1000 * window_no
        m = AnchorMessage(f, window_no, prev, root, cid, readings, t0, t0 + 999)
        leaves.append(WindowLeaf(f, window_no, prev, root, cid, readings, t0, t0 + 999, signer.sign(m)))
    return leaves


def capacity(gas_per_window: float, feeds_per_window: int, block_time_s: float) -> dict[str, float]:
    """Feeds (and readings/s at 100 Hz) one 30M-gas chain carries at a 1 s window, when a gateway anchors one
    window of `feeds_per_window` feeds per second: windows per block = block time / window."""
    windows_per_block = block_time_s / WINDOW_S
    gateways = math.floor(BLOCK_GAS_LIMIT / (windows_per_block * gas_per_window))
    feeds = gateways * feeds_per_window
    return {"gateways": gateways, "feeds": feeds, "readings_per_s": feeds * SENSOR_HZ}


def per_feed_capacity(gas_per_feed: float, block_time_s: float) -> dict[str, float]:
    """The same for per-feed anchors (`anchorMany`, device-signed): one anchor per feed per window."""
    feeds = math.floor(BLOCK_GAS_LIMIT / (block_time_s / WINDOW_S * gas_per_feed))
    return {"feeds": feeds, "readings_per_s": feeds * SENSOR_HZ}


def measure(env: BenchEnv, runs: int = 5, feeds_per_window: int = FEEDS_PER_WINDOW) -> Results:
    """`runs` windows of `feeds_per_window` feeds each: their content on IPFS, their root anchored by a gateway."""
    res = Results()
    admin = env.owner
    if not gateway.has_gateway(admin):
        res.missing(["feeds_per_chain_aggregated", "gas_anchor_window_per_feed"],
                    "the deployment has no GatewayAnchors contract")
        return res
    relay = env.chain(AGENT_INDEX)
    admin.sender.transact(gateway.grant_gateway(admin, relay.sender.address))
    signer = FastSigner(DEVICE_KEY, relay.sender.chain_id, relay.feeds.address)
    store = env.stack.store()
    gas: list[int] = []
    build_s: list[float] = []
    size: list[int] = []
    try:
        for w in range(runs + 1):  # the first window also turns the window counter from zero to non-zero
            leaves = signed_leaves(signer, feeds_per_window, w)
            t0 = time.perf_counter()  # the gateway's work: the window tree and its content
            window = Window(leaves)
            data = window.encode()
            build_s.append(time.perf_counter() - t0)
            digest, codec = pack(store.add_bytes(data).cid)
            receipt = relay.sender.transact(gateway.anchor_window(relay, window, digest, codec))
            if w:
                gas.append(int(receipt["gasUsed"]))
                size.append(len(data))
    finally:
        store.close()
    g = res.put(f"gas_anchor_window_{feeds_per_window}", gas)
    res.put("gas_anchor_window_per_feed", [x / feeds_per_window for x in gas])
    res.put("feeds_per_chain_aggregated", [capacity(x, feeds_per_window, 12.0)["feeds"] for x in gas])
    res.put("aggregate_window_build_s", build_s[1:])
    res.extra["aggregate"] = {
        "feeds_per_window": feeds_per_window,
        "window_bytes": max(size),
        "gas_per_window": g,
        "capacity": {f"{int(bt)}s": capacity(g, feeds_per_window, bt) for bt in BLOCK_TIMES_S},
    }
    return res


def section(r: dict[str, Any]) -> str:
    """docs/benchmarks.md: both modes side by side for 2 s and 12 s blocks."""
    agg = (r.get("extra") or {}).get("aggregate")
    per_feed = r.get("gas_anchor_many_signed_per_feed_10")
    if not agg:
        return "## Gateway-aggregated anchoring\n\nNot measured in this run."
    n, g = agg["feeds_per_window"], agg["gas_per_window"]
    rows = []
    for bt in BLOCK_TIMES_S:
        a = capacity(g, n, bt)
        p = per_feed_capacity(per_feed, bt) if per_feed else None
        rows.append(f"| {bt:g} s | {p['feeds']:,} feeds ({p['readings_per_s']:,} readings/s) |" if p else
                    f"| {bt:g} s | not measured |")
        rows[-1] += f" {a['feeds']:,} feeds ({a['readings_per_s']:,} readings/s), {a['gateways']:,} gateways |"
    build = r.get("aggregate_window_build_s")
    return "\n".join([
        "## Gateway-aggregated anchoring",
        "",
        f"A gateway anchors one window of {n:,} feeds' device-signed batches (100 readings each, 1 s window) with "
        f"`GatewayAnchors.anchorWindow`: **{g:,.0f} gas per window, {g / n:,.2f} gas per feed-window** (target "
        f"≤ 250), independent of the number of feeds, since only the window root and its CID reach the chain; "
        f"the window's content ({agg['window_bytes'] / 1e6:,.1f} MB of leaves and signatures) goes to IPFS"
        + (f"; the gateway builds its tree and encodes it in {build:,.2f} s (Python, one core)." if build is not None
           else "."),
        "",
        "Sensors at 100 Hz one 30M-gas chain carries at a 1 s window, if it carries nothing else "
        "(per-feed: device-signed `anchorMany` of 10 feeds, `gas_anchor_many_signed_per_feed_10`, which `make bench` "
        "measures in the same run; aggregated: one window per gateway per second):",
        "",
        "| block time | per-feed mode | aggregated mode |",
        "|---|---|---|",
        *rows,
        "",
        "In the aggregated mode the chain stops being the limit: a gateway's own bandwidth (building and storing a "
        "window of this size every second) and its IPFS node bound it first, and a verifier checks every device "
        "signature off-chain (docs/security.md says what the contract checks when). "
        "`feeds_per_chain_aggregated` in bench/results.json is the 12 s figure.",
    ])


def _merge_into_results(res: Results, path: Path) -> dict[str, Any]:
    """Only this module's keys go into results.json; every other figure stays as it was."""
    out: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for key in ("spread", "extra", "unavailable"):
        out[key] = dict(out.get(key) or {})
    out.update(res.values)
    out["spread"].update(res.spreads)
    out["extra"].update(res.extra)
    for key in res.values:
        out["unavailable"].pop(key, None)
    out["unavailable"].update(res.unavailable)
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def _replace_section(md: Path, text: str) -> None:
    """Puts this module's section into docs/benchmarks.md after the block-capacity one (what `make bench` renders)."""
    doc = md.read_text(encoding="utf-8")
    parts = doc.split("\n\n## ")
    parts = [p for p in parts if not p.startswith("Gateway-aggregated anchoring")]
    at = next((i + 1 for i, p in enumerate(parts) if p.startswith("What one block can carry")), len(parts))
    parts.insert(at, text.removeprefix("## "))
    md.write_text("\n\n## ".join(parts), encoding="utf-8")


def main() -> int:
    """`python -m bench.aggregate`: this group alone, on its own anvil chain (`make bench` runs it with `gas`)."""
    from .run import ROOT, quiet_logs

    quiet_logs()
    work = ROOT / "bench" / "out-aggregate"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with BenchEnv(work / "chain") as env:
            res = measure(env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = _merge_into_results(res, ROOT / "bench" / "results.json")
    _replace_section(ROOT / "docs" / "benchmarks.md", section(results))
    print(json.dumps({k: results.get(k) for k in res.values}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

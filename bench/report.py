"""Render docs/benchmarks.md and its plots (docs/img/bench_*.png) from bench/results.json.

    python -m bench.report [results.json] [docs dir]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

from . import aggregate

ROOT = Path(__file__).resolve().parents[1]

# EtherTwin's contracts (solc 0.5.13, optimizer 200) on anvil, one run: /work/shared/design.md "Reference figures".
ETHERTWIN_REFERENCE: dict[str, int] = {
    "create_twin": 3_639_536,
    "add_document": 262_056,
    "add_document_version": 106_903,
    "register_feed": 100_386,
    "grant_role": 50_229,
}
LOWER_BOUND_EVENT_ANCHOR = 22_500
GAS_OPS = (("create_twin", "create a twin"), ("grant_role", "grant a role"), ("add_document", "add a document"),
           ("add_document_version", "add a document version"), ("register_feed", "register a sensor feed"))

Figures = dict[str, Any]


def realtime_section(r: Figures) -> str:
    from .report_scale import realtime_section as section  # issue #16's sections live there

    return section(r)


def profile_section(r: Figures) -> str:
    from .report_scale import profile_section as section

    return section(r)


def num(x: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or n/a."""
    if x is None:
        return "n/a"
    if digits == 0 and abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{max(digits, 1) if abs(x) < 100 else digits}f}"


def cell(r: Figures, key: str, digits: int = 0) -> str:
    """Median with its spread (min–max over n runs) when there was more than one run."""
    value = r.get(key)
    if value is None:
        return "n/a (not available yet)" if key in r.get("unavailable", {}) else "n/a"
    s = r.get("spread", {}).get(key)
    if s and s.get("n", 1) > 1 and s["min"] != s["max"]:
        return f"{num(value, digits)} ({num(s['min'], digits)}–{num(s['max'], digits)}, n={s['n']})"
    if s and s.get("n", 1) > 1:
        return f"{num(value, digits)} (n={s['n']}, no spread)"
    return num(value, digits)


def ratio(a: float | None, b: float | None, digits: int = 1) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:,.{digits}f}×"


def pct(share: float | None) -> str:
    """A share (0..1) as a percentage, or n/a."""
    return "n/a" if share is None else f"{100 * share:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---- sections ---------------------------------------------------------------------------------

def gas_section(r: Figures) -> str:
    rows = []
    for key, label in GAS_OPS:
        tl, style, ref = r.get(f"gas_{key}"), r.get(f"ethertwin_style_gas_{key}"), ETHERTWIN_REFERENCE.get(key)
        rows.append([label, cell(r, f"gas_{key}"), cell(r, f"ethertwin_style_gas_{key}"), num(ref),
                     ratio(ref, tl), ratio(style, tl)])
    return "\n".join([
        "## Gas of the twin operations",
        "",
        "TwinLedger keeps every twin in three shared contracts. EtherTwin deploys a whole `Specification` contract "
        "per twin. The EtherTwin-style column is `bench/contracts/EtherTwinStyleTwin.sol`: a minimal per-twin "
        "contract (owner, roles mapping, spec pointer, components array, versioned documents, feeds), compiled "
        "like TwinLedger (solc 0.8.28, optimizer 200) and deployed once per twin. It is a lower bound of that "
        "approach. The reference column is EtherTwin's own contracts (solc 0.5.13) measured on anvil "
        "(shared/design.md). All figures are steady state: the first call ever also initializes shared counters.",
        "",
        table(["operation", "TwinLedger gas", "EtherTwin-style (bench)", "EtherTwin reference", "reference / TwinLedger",
               "EtherTwin-style / TwinLedger"], rows),
        "",
        "![gas of twin operations](img/bench_gas_ops.png)",
    ])


def anchor_section(r: Figures) -> str:
    floor = r.get("gas_anchor_event_only_floor")
    rows = [
        ["`anchor`, one batch of 100 readings, device-signed, relayed", "gas_anchor_single"],
        ["`anchorMany`, 10 feeds, per feed, ANCHOR holder (gateway, no signatures)", "gas_anchor_many_per_feed_10"],
        ["`anchorMany`, 10 feeds, per feed, device-signed", "gas_anchor_many_signed_per_feed_10"],
        ["event-only floor (`bench/contracts/EventOnlyAnchor.sol`)", "gas_anchor_event_only_floor"],
    ]
    body = [[label, cell(r, key), ratio(r.get(key), floor, 2)] for label, key in rows]
    return "\n".join([
        "## Gas of an anchor",
        "",
        f"The physical floor is a bare event with the 32-byte root (shared/design.md: about "
        f"{LOWER_BOUND_EVENT_ANCHOR:,}). A TwinLedger anchor also stores the feed's head after the batch (a new "
        "slot, +20k: its only write; the heads are the record of progress, no counter is updated), reads the "
        "feed's packed state and the previous head, checks the caller's permissions (once per twin per call) "
        "and that the feed's component is active (cached on the twin's count of removed components) and, when "
        "signed, recovers the device key.",
        "",
        table(["anchor", "gas", "vs event-only floor"], body),
        "",
        anchor_floor_argument(r),
    ])


# Per feed of a 10-feed `anchorMany`, in gas, from the opcode prices (Cancun): what the storage layout and the
# checks of docs/security.md cost before any other instruction runs.
ANCHOR_FLOOR: tuple[tuple[str, int, int], ...] = (  # (what, unsigned, signed)
    ("transaction base, 21,000 / 10", 2_100, 2_100),
    ("calldata of one item (16/non-zero byte, 4/zero byte; 320 or 416 bytes)", 2_284, 3_455),
    ("packed feed state, cold SLOAD", 2_100, 2_100),
    ("previous head, cold SLOAD (the head chain's link)", 2_100, 2_100),
    ("new head slot: cold SLOAD 2,100 + SSTORE 0 -> x warm 20,000", 22_100, 22_100),
    ("`Anchored`: LOG3 with 192 data bytes (375 + 3 x 375 + 8 x 192)", 3_036, 3_036),
    ("ecrecover (3,000) and its STATICCALL (100)", 0, 3_100),
    ("keccak of the head, struct hash and digest", 78, 210),
    ("per call, / 10: pause flag, Authorization and Specification (cold accounts and slots)", 1_300, 1_300),
)


def anchor_floor_argument(r: Figures) -> str:
    """Why the signed `anchorMany` stays above 40,000 gas per feed: the priced operations alone."""
    unsigned = sum(row[1] for row in ANCHOR_FLOOR)
    signed = sum(row[2] for row in ANCHOR_FLOOR)
    rows = [[what, f"{u:,}", f"{sg:,}"] for what, u, sg in ANCHOR_FLOOR]
    rows.append(["**sum of the priced operations**", f"**{unsigned:,}**", f"**{signed:,}**"])
    rows.append(["measured (receipts, above)", cell(r, "gas_anchor_many_per_feed_10"),
                 cell(r, "gas_anchor_many_signed_per_feed_10")])
    return "\n".join([
        "**Per feed of a 10-feed `anchorMany`, from the opcode prices.** The target of issue #16 is 40,000 gas "
        "per feed, signed or unsigned. Unsigned it is met. Signed, the priced operations below already add up "
        f"to {signed:,}, which leaves {40_000 - signed:,} gas for every other instruction of an item (the ABI "
        "decoding of the item array, memory, jumps and the checks' comparisons take about 4,000). Each line "
        "is either fixed by the ABI the Python clients encode (calldata, the event) "
        "or a check of docs/security.md: the previous head (the chain of heads), the feed's state (its status, "
        "device key and signature requirement), the signature itself. Dropping any of them to reach 40,000 "
        "would weaken a guarantee. At plant scale the gateway-aggregated mode is the answer, not a cheaper "
        "per-feed anchor.",
        "",
        table(["per feed", "unsigned", "signed"], rows),
    ])


def per_reading_section(r: Figures) -> str:
    naive = r.get("naive_gas_per_reading")
    sizes = sorted(int(k) for k in r.get("extra", {}).get("gas_per_reading_by_batch_size", {}))
    rows = [[f"TwinLedger, {n} reading{'s' if n > 1 else ''} per batch", cell(r, f"gas_per_reading_{n}", 1),
             ratio(naive, r.get(f"gas_per_reading_{n}"))] for n in sizes]
    rows.append(["naive: one transaction and one storage write per reading (`NaiveReadings.sol`)",
                 cell(r, "naive_gas_per_reading"), "1.0×"])
    feeds = sorted(int(k) for k in r.get("extra", {}).get("gas_per_reading_by_feeds", {}))
    frows = [[f"{n} sensor{'s' if n > 1 else ''} at 100 Hz, one signed `anchorMany` per 1 s window",
              cell(r, f"gas_per_reading_feeds_{n}", 1), ratio(naive, r.get(f"gas_per_reading_feeds_{n}"))]
             for n in feeds]
    return "\n".join([
        "## Gas per reading",
        "",
        "One device-signed `anchor` per batch; the anchor's gas divided by the readings it covers.",
        "",
        table(["batching", "gas per reading", "naive / TwinLedger"], rows),
        "",
        "Against the number of feeds (each batch holds 100 readings: 100 Hz, 1 s window):",
        "",
        table(["deployment", "gas per reading", "naive / TwinLedger"], frows),
        "",
        "![scaling with batch size](img/bench_scaling_batch.png)",
        "",
        "![scaling with the number of feeds](img/bench_scaling_feeds.png)",
    ])


def capacity_section(r: Figures) -> str:
    cap = r.get("block_capacity", {})
    rows = [[name, num(c["gas_per_anchor"]), num(c["anchors_per_block"]), num(c["anchors_per_s"], 1),
             num(c["feeds_at_1s_window"]), num(c["readings_per_s_at_100hz"])] for name, c in cap.items()]
    best = cap.get("anchorMany, signed, per feed (10 feeds)") or next(iter(cap.values()), None)
    summary = ""
    if best:
        summary = (f"**Largest deployment per chain:** with device-signed `anchorMany` at "
                   f"{best['gas_per_anchor']:,.0f} gas per feed, one 30M-gas block every 12 s carries "
                   f"{best['anchors_per_block']:,.0f} anchors, i.e. {best['anchors_per_s']:,.1f} anchors/s. At a 1 s "
                   f"window every feed needs one anchor per second, so the whole chain carries about "
                   f"**{best['feeds_at_1s_window']:,.0f} feeds** ({best['readings_per_s_at_100hz']:,.0f} readings/s "
                   f"at 100 Hz each), if it carries nothing else. Longer windows scale this linearly: a 12 s window "
                   f"carries 12 times as many feeds.")
    return "\n".join([
        "## What one block can carry",
        "",
        "One 30M-gas block per 12 s; each feed anchors once per 1 s window (anchors/s needed = feeds).",
        "",
        table(["anchor", "gas per anchor", "anchors per block", "anchors/s", "feeds at 1 s window",
               "readings/s at 100 Hz"], rows),
        "",
        summary,
    ])


def throughput_section(r: Figures) -> str:
    x = r.get("extra", {})
    rows = [
        ["agent: validate → outbox → batch → IPFS → signed anchor (1 s window, "
         f"{x.get('agent_feeds', '?')} feeds, {x.get('agent_total_readings', '?')} readings per run)",
         cell(r, "agent_readings_per_s"), ratio(r.get("agent_readings_per_s"), r.get("naive_readings_per_s"))],
        [f"the same, {x.get('agent_short_total_readings', '?')} readings per run (most batches close, are stored and "
         "anchored after the last reading: a burst and its drain)", cell(r, "agent_readings_per_s_short_run"),
         ratio(r.get("agent_readings_per_s_short_run"), r.get("naive_readings_per_s"))],
        [f"naive: one transaction per reading ({x.get('naive_total_readings', '?')} readings per run)",
         cell(r, "naive_readings_per_s"), "1.0×"],
        ["agent with encryption (AES-256-GCM sealed batches, epoch key wrapped to "
         f"{x.get('encryption_readers', '?')} readers)", cell(r, "agent_readings_per_s_encrypted"),
         ratio(r.get("agent_readings_per_s_encrypted"), r.get("naive_readings_per_s"))],
    ]
    lat = [["arrival → anchor receipt, p50 (ms)", cell(r, "agent_latency_p50_ms")],
           ["arrival → anchor receipt, p99 (ms)", cell(r, "agent_latency_p99_ms")]]
    enc = [["readings/s without / with encryption",
            ratio(r.get("agent_readings_per_s"), r.get("agent_readings_per_s_encrypted"), 2)],
           ["size overhead per batch (bytes)", num(r.get("encryption_overhead_bytes_per_batch"))],
           ["size overhead per batch (%)", num(r.get("encryption_overhead_pct"), 2)],
           ["mean plaintext batch (bytes)", num(x.get("encryption_mean_batch_bytes"))],
           ["key envelope per epoch (bytes, stored once per epoch, not per batch)",
            num(x.get("encryption_envelope_bytes"))]]
    return "\n".join([
        "## Agent throughput and latency",
        "",
        "The agent's own stages (`Validator`, `Outbox` on SQLite with `synchronous=FULL`, `Batcher`/`Pipeline`, "
        "`Anchorer` in its own thread, as `AgentDaemon` wires them) on anvil (automine) and the embedded IPFS node. "
        "readings/s runs from the first reading in to the receipt of the last anchor. Plaintext, encrypted and "
        "naive runs alternate in the same run. Gas per reading in the agent runs: "
        f"{cell(r, 'agent_gas_per_reading', 1)}. In the long runs the drain after the last reading (closing, "
        f"storing and anchoring the batches still open) is {pct(r.get('agent_drain_share'))} of the run.",
        "",
        table(["pipeline", "readings/s", "vs naive"], rows),
        "",
        f"Latency at the 1 s window, {num(x.get('latency_offered_readings_per_s'))} readings/s offered "
        f"({x.get('latency_sensors', '?')} sensors at 100 Hz, real time):",
        "",
        table(["latency", "ms"], lat),
        "",
        "Cost of encryption (same run):",
        "",
        table(["", "value"], enc),
    ])


def verify_section(r: Figures) -> str:
    x = r.get("extra", {})
    rows = [["`Verifier.verify_feed`: fetch by CID, decode, leaves, roots, head chain, signatures, gaps",
             cell(r, "verify_readings_per_s"),
             cell(r, "verify_share_of_limit", 2) if r.get("verify_share_of_limit") is not None
             else ratio(r.get("verify_readings_per_s"), r.get("keccak_leaves_per_s"), 2)],
            ["limit: raw keccak over the same leaves and Merkle trees", cell(r, "keccak_leaves_per_s"), "1.00×"]]
    return "\n".join([
        "## Verification",
        "",
        f"One feed of {num(x.get('verify_feed_readings'))} readings in {x.get('verify_feed_batches', '?')} batches, "
        "anchored on anvil and stored on the embedded node; verified from a fresh read-only view of the chain.",
        "",
        table(["", "readings/s", "share of the limit"], rows),
        "",
        "The share is each run's verifier rate over the keccak limit measured just before it "
        "(`verify_share_of_limit`), median and spread over the runs. The limit is one core's; the verifier "
        "hashes a feed this long in helper processes too (`verify/roots.py`), so on this 2-core machine its share "
        "can pass 1. Its first run pays for starting them, hence the low minimum.",
    ])


def ipfs_section(r: Figures) -> str:
    x = r.get("extra", {})
    rows = [[f"embedded add, one {x.get('ipfs_file_mb', 100)} MB file (MB/s)", cell(r, "ipfs_add_mb_per_s", 1),
             ratio(r.get("ipfs_add_mb_per_s"), r.get("sha256_mb_per_s"), 3)],
            ["raw sha2-256 over the same bytes (MB/s), the limit", cell(r, "sha256_mb_per_s", 1), "1.000×"],
            ["embedded add, 1 KB objects (adds/s)", cell(r, "ipfs_small_adds_per_s", 1), ""]]
    return "\n".join([
        "## Embedded IPFS node",
        "",
        f"The default store (fsync {'on' if x.get('ipfs_fsync', True) else 'off'}); every run adds new random "
        "content, so nothing is deduplicated.",
        "",
        table(["", "throughput", "share of the limit"], rows),
    ])


def header(r: Figures) -> str:
    m = r.get("machine", {})
    nulls = r.get("unavailable", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`) from `bench/results.json`; do not edit by hand.",
        "",
        f"- machine: {m.get('cores', '?')} cores, {m.get('cpu_model', '?')}, {m.get('system', '')}, "
        f"Python {m.get('python', '')}",
        f"- date: {r.get('date', '?')}; whole run: {r.get('runtime_s', 0):.0f} s"
        + ("; **quick mode (smoke sizes, not representative)**" if r.get("quick") else ""),
        "- each figure is the median of several runs, with (min–max, n) beside it. Gas comes from receipts on "
        "anvil; figures compared with each other were measured in the same run.",
    ]
    measured = _measured_by_group(r)
    if len(set(measured.values())) > 1:
        lines.append("- the groups come from more than one run (`--only` reruns some): " + "; ".join(
            f"{group}: {when}" for group, when in measured.items()))
    elif measured:
        lines.append(f"- every group measured on {next(iter(measured.values()))}")
    if nulls:
        lines.append("- not available yet: " + "; ".join(f"`{k}` ({v})" for k, v in sorted(nulls.items())))
    return "\n".join(lines)


def _measured_by_group(r: Figures) -> dict[str, str]:
    """group -> "code <commit>, <day>" of the run that measured it, for every group measured so far."""
    extra = r.get("extra", {})
    out = {}
    for key in sorted(extra):
        if key.startswith("group_seconds_"):
            group = key.removeprefix("group_seconds_")
            value = extra.get(f"group_measured_{group}")
            out[group] = (f"code {value.get('code', '?')}, {str(value.get('date', '?'))[:10]}"
                          if isinstance(value, dict) else "an earlier run that did not record its code")
    return out


# ---- plots --------------------------------------------------------------------------------------

def _plots(r: Figures, img: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    x = r.get("extra", {})

    def series(name: str) -> tuple[list[int], list[float]]:
        d = x.get(name) or {}
        keys = sorted(d, key=int)
        return [int(k) for k in keys], [d[k] for k in keys]

    def two_axes(path: Path, title: str, xlabel: str, gas_s: tuple[list[int], list[float]],
                 rate_s: tuple[list[int], list[float]], naive: float | None, naive_rate: float | None) -> None:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        if gas_s[0]:
            a.plot(*gas_s, "o-", label="TwinLedger")
        if naive:
            a.axhline(naive, color="tab:red", ls="--", label="naive (1 tx per reading)")
        a.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="gas per reading", title="gas per reading")
        a.legend()
        if rate_s[0]:
            b.plot(*rate_s, "o-", color="tab:green", label="agent")
        if naive_rate:
            b.axhline(naive_rate, color="tab:red", ls="--", label="naive (1 tx per reading)")
        b.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="readings/s", title="readings/s")
        b.legend()
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    two_axes(img / "bench_scaling_batch.png", "Against batch size (one signed anchor per batch)",
             "readings per batch", series("gas_per_reading_by_batch_size"),
             series("agent_readings_per_s_by_batch_size"), r.get("naive_gas_per_reading"),
             r.get("naive_readings_per_s"))
    two_axes(img / "bench_scaling_feeds.png", "Against the number of sensors (100 Hz each, 1 s window)",
             "sensors (feeds)", series("gas_per_reading_by_feeds"), series("agent_readings_per_s_by_feeds"),
             r.get("naive_gas_per_reading"), None)

    labels = [label for _, label in GAS_OPS]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.27
    pos = range(len(GAS_OPS))
    for i, (name, values) in enumerate((
            ("TwinLedger", [r.get(f"gas_{k}") or 0 for k, _ in GAS_OPS]),
            ("EtherTwin-style (bench)", [r.get(f"ethertwin_style_gas_{k}") or 0 for k, _ in GAS_OPS]),
            ("EtherTwin reference", [ETHERTWIN_REFERENCE.get(k, 0) for k, _ in GAS_OPS]))):
        ax.bar([p + (i - 1) * width for p in pos], values, width, label=name)
    ax.set_xticks(list(pos), labels, rotation=15)
    ax.set(yscale="log", ylabel="gas", title="Gas of twin operations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(img / "bench_gas_ops.png", dpi=110)
    plt.close(fig)


def sources_section(r: Figures) -> str:
    x = r.get("extra", {})
    k = "ingest_readings_per_s_"
    rows = [["JSON-lines file (`kind: jsonl`), the baseline", cell(r, k + "file")],
            ["OPC UA, live: the plant's asyncua server writes while the agent is subscribed (`kind: opcua`; the "
             "server's own write rate bounds it)", cell(r, k + "opcua")],
            ["OPC UA, HistoryRead backfill of readings the server holds (what a restart reads back)",
             cell(r, k + "opcua_history")],
            ["MQTT: JSON QoS 1 messages queued for the persistent session at mosquitto, each PUBACKed after its "
             "commit (`kind: mqtt`)", cell(r, k + "mqtt")],
            ["Sparkplug B: NBIRTH, DBIRTH, then DDATA protobuf payloads, one metric per sensor, seq checked, "
             "PUBACKed after commit (`kind: mqtt`, `sparkplug:`)", cell(r, k + "sparkplug")],
            ["Modbus TCP: ten holding registers per poll, polled back to back (`kind: modbus`)",
             cell(r, k + "modbus")]]
    base = r.get(k + "file")
    for row, name in zip(rows, ("file", "opcua", "opcua_history", "mqtt", "sparkplug", "modbus")):
        value = r.get(k + name)
        row.append(f"{value / base:.2f}×" if value and base else "n/a")
    return "\n".join([
        "## Sources: ingest rate into the outbox",
        "",
        "readings/s from each source into the outbox (validated and group-committed, `synchronous=FULL`), real "
        f"servers on loopback, {x.get('ingest_readings_per_run', '?')} readings per run "
        f"({x.get('ingest_modbus_readings_per_run', '?')} for Modbus), `python -m bench.run --only sources`. "
        "Anchoring is not included: it is the same for every source (see the agent throughput above). The "
        "asyncua and pymodbus servers run in a thread of the bench's own process, so they share one Python "
        "interpreter (and its GIL) with the agent's side: their figures are lower bounds for a plant on its own "
        "machine. mosquitto is a process of its own.",
        "",
        table(["source", "readings/s", "vs. the file source"], rows),
    ])


def render(r: Figures, docs: Path = ROOT / "docs") -> Path:
    """Write docs/benchmarks.md and docs/img/bench_*.png; returns the markdown path."""
    docs = Path(docs)
    _plots(r, docs / "img")
    sections: list[Callable[[Figures], str]] = [header, gas_section, anchor_section, per_reading_section,
                                                capacity_section, aggregate.section, throughput_section, realtime_section,
                                                profile_section, sources_section, verify_section, ipfs_section]
    path = docs / "benchmarks.md"
    path.write_text("\n\n".join(s(r) for s in sections) + "\n", encoding="utf-8")
    (docs / "gas.md").write_text(gas_page(r), encoding="utf-8")
    return path


def gas_page(r: Figures) -> str:
    """docs/gas.md: each operation's gas from real receipts next to EtherTwin's, and the anchors."""
    intro = ("# Gas\n\nGenerated by `make bench` from `bench/results.json`, like [benchmarks.md](benchmarks.md); do "
             "not edit by hand. Every figure is `gasUsed` from a receipt on anvil.\n\n"
             "Targets from the on-chain core issue: create a twin at most 250k; a single anchor with a device "
             "signature at most 75k; `anchorMany` at most 40k per feed at 10 feeds, signed or unsigned (issue #16). "
             "An anchor writes one slot, the head after its batch (22.1k); it updates no counter (the heads are "
             "the record of progress) and checks its component (review finding L-3) only after a component of its "
             "twin was removed. The single anchor and the unsigned `anchorMany` meet their targets; the signed "
             "`anchorMany` cannot, and [benchmarks.md](benchmarks.md) gives the argument from the opcode prices.")
    return "\n\n".join([intro, review_section(r), gas_section(r), anchor_section(r), agreement_section(r)]) + "\n"


REVIEW_OPS = GAS_OPS + (("anchor_single", "`anchor`, 100 readings, device-signed"),
                        ("anchor_many_per_feed_10", "`anchorMany`, 10 feeds, per feed, gateway (unsigned)"),
                        ("anchor_many_signed_per_feed_10", "`anchorMany`, 10 feeds, per feed, device-signed"))


def review_section(r: Figures) -> str:
    """What the security review's fixes cost: the figures recorded before them (`before_review_gas`) and now."""
    before = r.get("before_review_gas") or {}
    rows = []
    for key, label in REVIEW_OPS:
        old, new = before.get(f"gas_{key}"), r.get(f"gas_{key}")
        change = "n/a" if old is None or new is None else f"{new - old:+,.0f}"
        rows.append([label, num(old), num(new), change])
    return "\n".join([
        "## What the review's fixes cost",
        "",
        "Before: the figures of the last run before the fixes of docs/security.md. Dismissing needs TWIN_DISMISS "
        "(L-7), replacing a component a second permission check (L-4), program calls store their revision in their "
        "packed slot (M-1), `grantRole` counts custom roles (L-6), key envelopes keep an epoch slot per stream "
        "(M-3); the table shows the operations measured in both runs.",
        "",
        table(["operation", "before", "after", "change"], rows),
    ])


def agreement_section(r: Figures) -> str:
    rows = [
        ["`create`: propose (3 parties, 1 condition, a confirmation)", "gas_agreement_create"],
        ["`accept`: the buyer's, with its ERC-20 deposit, activating the agreement", "gas_agreement_accept"],
        ["`proveBreach`: a reading of a 10-reading batch, with its header and Merkle proof", "gas_agreement_prove_breach"],
        ["`settle`: a breached agreement", "gas_agreement_settle"],
        ["`withdraw`: the buyer's payout (ERC-20 transfer)", "gas_agreement_withdraw"],
    ]
    return "\n".join([
        "## Gas of an agreement",
        "",
        "The cold-chain agreement of `twinledger demo cold-chain` (`contracts/agreements/AgreementRegistry.sol`), "
        "escrowed in the dev chain's ERC-20. `create` writes about 31 new slots (the terms, six words per party, "
        "the party index, the condition); a breach proof reads the batch's head and recomputes the Merkle path "
        "through `SensorFeed.verifyReading`. tests/agreements/test_agreement_gas.py guards these figures and "
        "those of `proveGap`, `proveCoverage` and `confirmDelivery` on EthTester.",
        "",
        table(["operation", "gas"], [[label, cell(r, key)] for label, key in rows]),
    ])


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs"
    print(render(json.loads(src.read_text(encoding="utf-8")), out))

"""Exactly once from a file and from stdin, with real agent processes killed with SIGKILL.

The oracle is the chain and IPFS alone: every anchored reading's (sensor, time, value), counted. A
JSON-lines file replayed through at least 8 SIGKILLs must end on-chain line for line, each once; the
chain kept across an anvil restart (the `dev down` / `dev up` mechanism: anvil's state file) and a
second run of the same file add nothing; the same outbox pointed at a redeployed chain is refused.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from plant_support import SENSORS, Plant, provision_plant
from twinledger.chain.stack import DevStack

pytestmark = pytest.mark.timeout(900)
KILLS = int(os.environ.get("TWINLEDGER_EXACTLY_ONCE_KILLS", "8"))


def agent_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "twinledger.cli.main", "agent", *args]


def start_agent(config: Path, log: Path, **kw) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen(agent_cmd("run", "--config", str(config)), stdout=kw.pop("stdout", err),
                                stderr=err, start_new_session=True, **kw)


def write_lines(path: Path, n: int, rng: random.Random) -> Counter:
    """``n`` readings round-robin over the plant's sensors, 10 ms apart, plus lines that are no readings
    (a comment, a malformed line); returns the readings the chain must end up holding."""
    t0 = time.time_ns() // 1_000_000 - 3_600_000
    expected: Counter = Counter()
    with open(path, "w") as f:
        for i in range(n):
            if i % 700 == 350:
                f.write("# a comment line\n{not json\n")
            sensor, t_ms, value = SENSORS[i % len(SENSORS)], t0 + 10 * i, round(rng.uniform(20, 80), 3)
            f.write(json.dumps({"sensor": sensor, "t_ms": t_ms, "value": value}) + "\n")
            expected[(sensor, t_ms, value)] += 1
    return expected


def anchored(plant: Plant) -> Counter:
    """(sensor, t_ms, value) of every reading the chain anchors, counted, read from events and IPFS."""
    from twinledger.formats.batch import decode_batch
    from twinledger.formats.cids import raw_cid_from_digest

    chain, store = plant.stack.chain(), plant.stack.store()
    out: Counter = Counter()
    for feed in plant.feeds.values():
        for event in chain.feeds.events.Anchored.get_logs(from_block=0, argument_filters={"feedId": feed}):
            batch = decode_batch(store.block_get(raw_cid_from_digest(event["args"]["cid"])))
            out.update((r.sensor, r.t_ms, r.value) for r in batch.readings)
    return out


def anchor_count(plant: Plant) -> int:
    return len(plant.stack.chain().feeds.events.Anchored.get_logs(from_block=0))


def test_sigkill_loop_on_a_jsonl_file_then_restarted_chain_and_rerun(tmp_path):
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"crash seed {seed}")
    plant = provision_plant(tmp_path / "plant", state_file=tmp_path / "plant" / "anvil-state.json")
    try:
        data = tmp_path / "readings.jsonl"
        expected = write_lines(data, 3000, rng)
        # paced at half speed (200 lines/s): each run reads a few seconds' worth before it is killed
        config = plant.config("once", source={"kind": "jsonl", "path": str(data), "speed": 0.5}, window_s=0.3)
        log = config.parent / "agent.log"
        kills = rounds = 0
        while kills < KILLS and rounds < KILLS + 6:
            rounds += 1
            proc = start_agent(config, log)
            time.sleep(rng.uniform(2.0, 6.0))  # start-up takes ~3 s: some kills land in it, most mid-file
            if proc.poll() is None:
                kills += 1
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert kills >= KILLS, f"only {kills} kills landed on a running agent (seed {seed})"
        assert anchored(plant) - expected == Counter(), "the chain holds a reading the file does not"

        final = start_agent(config, log)  # the file's end: the agent anchors the rest and exits by itself
        assert final.wait(timeout=240) == 0, log.read_text()[-3000:]
        got = anchored(plant)
        doubled = {k: n for k, n in got.items() if n > 1}
        assert not doubled, f"{len(doubled)} readings anchored more than once (seed {seed})"
        assert got == expected, (f"missing {sum((expected - got).values())}, extra {sum((got - expected).values())}"
                                 f" (seed {seed})")

        # The chain survives a restart of anvil (what `dev down` / `dev up` do), and a second run adds nothing.
        anchors = anchor_count(plant)
        plant.stack.anvil.stop()
        plant.stack.anvil.start()
        again = subprocess.run(agent_cmd("run", "--config", str(config)), capture_output=True, text=True, timeout=240)
        assert again.returncode == 0, again.stderr[-3000:]
        summary = again.stdout.strip().splitlines()[-1]
        assert "accepted=0 " in summary and "readings_anchored=0 " in summary, summary
        assert anchor_count(plant) == anchors and anchored(plant) == expected

        # A redeployed chain (same deployer, same addresses, new genesis) gets nothing: the agent refuses.
        with DevStack(tmp_path / "redeployed") as redeployed:
            assert redeployed.deployment.contracts["SensorFeed"].address == \
                plant.stack.deployment.contracts["SensorFeed"].address
            outbox = config.parent / "outbox.sqlite"
            foreign = plant.config("foreign", source={"kind": "jsonl", "path": str(data)}, rpc_url=redeployed.rpc_url,
                                   outbox_path=str(outbox))
            refused = subprocess.run(agent_cmd("run", "--config", str(foreign)), capture_output=True, text=True,
                                     timeout=120)
            assert refused.returncode == 1 and "Traceback" not in refused.stderr
            line = refused.stderr.strip().splitlines()[-1]
            assert line.startswith(f"Error: outbox {outbox} belongs to chain 31337 (genesis "), line
            assert f"`twinledger agent archive-outbox --outbox {outbox}`" in line
            assert not redeployed.chain().feeds.events.Anchored.get_logs(from_block=0)
            archived = subprocess.run(agent_cmd("archive-outbox", "--outbox", str(outbox)), capture_output=True,
                                      text=True, timeout=60)
            assert archived.returncode == 0 and not outbox.exists(), archived.stderr
            assert list(outbox.parent.glob("outbox.sqlite.archived-*"))
    finally:
        plant.stack.stop()


def test_stdin_acknowledges_committed_lines_and_a_resend_adds_nothing(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    try:
        data = tmp_path / "readings.jsonl"
        expected = write_lines(data, 400, random.Random(3))
        lines = data.read_text().splitlines(keepends=True)
        config = plant.config("stdin", source={"kind": "stdin"}, window_s=0.3)
        log = config.parent / "agent.log"
        proc = start_agent(config, log, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(lines).encode())
        proc.stdin.close()
        out = proc.stdout.read().decode().splitlines()
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
        acks = [json.loads(line)["ack"] for line in out if line.startswith('{"ack"')]
        assert acks and acks == sorted(acks) and acks[-1] == len(lines), out[-5:]
        assert anchored(plant) == expected
        # a producer that resends everything (it lost track of the acks) doubles nothing
        resend = subprocess.run(agent_cmd("run", "--config", str(config)), input="".join(lines), capture_output=True,
                                text=True, timeout=120)
        assert resend.returncode == 0, resend.stderr[-3000:]
        assert "readings_anchored=0 " in resend.stdout and anchored(plant) == expected
    finally:
        plant.stack.stop()

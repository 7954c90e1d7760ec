"""Outbox crash safety with real ``kill -9``: a worker process appends readings, claims batches and
moves their states; it prints a reading's rid only after the commit returned (the acknowledgement).
After every kill the outbox must hold every acknowledged reading, no reading may be in two
batches, seqs must be continuous, and batch bytes never change once claimed."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from twinledger.agent.outbox import BatchState, Outbox
from twinledger.formats.batch import decode_batch

WORKER = textwrap.dedent('''
    import random, sys
    import structlog
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    from twinledger.agent.outbox import Outbox, BatchState
    from twinledger.agent.validation import Accepted

    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    ob = Outbox(path)
    for rec in list(ob.resume()):           # finish what the previous run left
        if rec.state is BatchState.PENDING:
            ob.mark_stored(rec.feed, rec.seq, f"cid-{rec.feed}-{rec.seq}")
    print("READY", flush=True)
    i = 0
    while True:
        n = rng.choice((1, 1, 5, 50, 300))
        items = [(rng.randint(1, 3), Accepted(f"s{rng.randint(0, 4)}", i + k, rng.random(), rng.choice((0, 0, 4, 16))))
                 for k in range(n)]
        i += n
        stored = ob.append_many(items)
        sys.stdout.write("A %d %d\\n" % (stored[0].rid, stored[-1].rid))
        sys.stdout.flush()
        if rng.random() < 0.4:
            feed = rng.randint(1, 3)
            b = ob.claim_batch(feed, max_readings=rng.randint(1, 400), max_bytes=rng.choice((2000, 262143)))
            if b is not None:
                sys.stdout.write("B %d %d %d\\n" % (b.feed, b.seq, b.count))
                sys.stdout.flush()
        for rec in list(ob.batches(states=[BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]))[:3]:
            if rec.state is BatchState.PENDING:
                ob.mark_stored(rec.feed, rec.seq, f"cid-{rec.feed}-{rec.seq}")
            elif rec.state is BatchState.STORED:
                ob.mark_submitted(rec.feed, rec.seq, "0x%x" % rec.seq, rec.seq)
            else:
                ob.mark_anchored(rec.feed, rec.seq, 1000 + rec.seq)
''')


def check(path, acked: set[int], claimed: dict, digests: dict) -> None:
    with Outbox(path) as ob:
        ob.check_integrity()
        present = {r.rid: (feed, r, bseq) for feed, r, bseq in ob.iter_readings()}
        missing = acked - present.keys()
        assert not missing, f"{len(missing)} acknowledged readings lost, e.g. {sorted(missing)[:5]}"
        seen: dict[int, tuple[int, int]] = {}
        per_feed: dict[int, list[int]] = {}
        for rec in ob.batches():
            per_feed.setdefault(rec.feed, []).append(rec.seq)
            data = ob.batch_data(rec.feed, rec.seq)
            digest = hashlib.sha256(data).hexdigest()
            assert digests.setdefault((rec.feed, rec.seq), digest) == digest, "batch bytes changed"
            batch = decode_batch(data)
            assert (batch.feed, batch.seq, batch.count) == (rec.feed, rec.seq, rec.count)
            for reading in batch.readings:
                assert reading.rid not in seen, f"rid {reading.rid} in {seen[reading.rid]} and {(rec.feed, rec.seq)}"
                seen[reading.rid] = (rec.feed, rec.seq)
                feed, stored, bseq = present[reading.rid]
                assert (feed, bseq) == (rec.feed, rec.seq) and stored == reading
        for rid, (feed, _, bseq) in present.items():
            assert (bseq is None) == (rid not in seen)
        for feed, seqs in per_feed.items():
            assert seqs == list(range(len(seqs))), f"feed {feed} seqs not continuous"
        for (feed, seq), count in claimed.items():
            assert ob.get_batch(feed, seq).count == count


def test_kill_9_at_random_points_loses_nothing(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    path = tmp_path / "outbox.sqlite"
    rng = random.Random(1234)
    acked: set[int] = set()
    claimed: dict[tuple[int, int], int] = {}
    digests: dict[tuple[int, int], str] = {}
    rounds = 8
    for round_ in range(rounds):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(round_)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "A":
                acked.update(range(int(parts[1]), int(parts[2]) + 1))
            elif len(parts) == 4 and parts[0] == "B":
                claimed[(int(parts[1]), int(parts[2]))] = int(parts[3])
        check(path, acked, claimed, digests)
    assert len(acked) > 1000 and len(claimed) > 10
    with Outbox(path) as ob:       # the last run's batches are still resumable
        states = {r.state for r in ob.resume()}
        assert states <= {BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED, BatchState.ANCHORED}

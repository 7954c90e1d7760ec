"""`formats.batchroot`: the root a batch's bytes commit to, and the helper process that answers it
(`python -m twinledger.formats.batchroot`, started by `verify.roots`)."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest
from hypothesis import given, settings

from twinledger.formats.batch import Batch, Reading, encode_batch, encode_reading
from twinledger.formats.batchroot import (ANSWER_SIZE, MAX_REQUEST, QUEUED_BATCHES, batch_root, batch_root_or_none,
                                         request_pipe_size, serve, start_helper)
from twinledger.formats.merkle import MerkleTree, leaf_hash

from batch_strategies import mixed_batches


def request(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@settings(max_examples=60, deadline=None)
@given(mixed_batches())
def test_the_root_is_the_tree_over_each_encoded_reading(batch) -> None:
    tree = MerkleTree([leaf_hash(encode_reading(r)) for r in batch.readings])  # another path: no slices
    assert batch_root(encode_batch(batch)) == tree.root


def test_bytes_that_are_no_batch_have_no_root() -> None:
    assert batch_root_or_none(b"\xa1\x61x\x00") is None
    assert batch_root_or_none(b"") is None


@settings(max_examples=10, deadline=None)
@given(mixed_batches(), mixed_batches())
def test_serve_answers_each_request_in_order(first, second) -> None:
    requests = io.BytesIO(request(encode_batch(first)) + request(b"junk") + request(encode_batch(second)))
    answers = io.BytesIO()
    serve(requests, answers)
    out = answers.getvalue()
    assert out == (b"\x01" + batch_root(encode_batch(first)) + b"\x00" + bytes(32)
                   + b"\x01" + batch_root(encode_batch(second)))


def test_serve_stops_at_a_cut_request_and_refuses_an_impossible_length() -> None:
    answers = io.BytesIO()
    serve(io.BytesIO(request(b"abcdef")[:-2]), answers)
    assert answers.getvalue() == b""
    with pytest.raises(SystemExit, match="out of step"):
        serve(io.BytesIO((MAX_REQUEST + 1).to_bytes(4, "big")), io.BytesIO())


def test_the_helper_process_answers_over_its_pipes() -> None:
    batch = Batch(7, 3, tuple(Reading(i, "level", 1_000 + i, 20.5 + i, 0) for i in range(50)))
    out = subprocess.run([sys.executable, "-m", "twinledger.formats.batchroot"],
                         input=request(encode_batch(batch)) + request(b"no"), capture_output=True, timeout=60,
                         check=True).stdout
    assert out == b"\x01" + batch_root(encode_batch(batch)) + b"\x00" + bytes(32)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are set with Linux's F_SETPIPE_SZ")
def test_a_busy_helper_queues_several_big_batches_without_the_caller_waiting() -> None:
    """The agent's ingest thread writes a batch to a helper that is still hashing the one before: the write must
    not wait for the helper (a default 64 KiB pipe made it wait for most of each 200 KB batch)."""
    readings = tuple(Reading(i, "level", 1_700_000_000_000 + 10 * i, 20.5 + i % 7, 0) for i in range(5_000))
    framed = request(encode_batch(Batch(7, 3, readings)))
    assert len(framed) > 150_000
    helper = start_helper(unbuffered=True)
    assert helper.stdin is not None and helper.stdout is not None
    try:
        assert (request_pipe_size(helper) or 0) >= QUEUED_BATCHES * len(framed)
        os.kill(helper.pid, signal.SIGSTOP)  # busy: it reads nothing until it goes on
        os.set_blocking(helper.stdin.fileno(), False)
        for _ in range(QUEUED_BATCHES):
            assert os.write(helper.stdin.fileno(), framed) == len(framed)  # whole, at once
        os.set_blocking(helper.stdin.fileno(), True)
        os.kill(helper.pid, signal.SIGCONT)
        answers = b""
        while len(answers) < QUEUED_BATCHES * ANSWER_SIZE:
            answers += os.read(helper.stdout.fileno(), QUEUED_BATCHES * ANSWER_SIZE - len(answers))
        assert answers == (b"\x01" + batch_root(framed[4:])) * QUEUED_BATCHES
    finally:
        os.kill(helper.pid, signal.SIGCONT)
        helper.stdin.close()
        helper.wait(timeout=30)
        helper.stdout.close()

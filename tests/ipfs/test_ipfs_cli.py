"""``twinledger ipfs`` commands: Kubo-identical CIDs from ``add``, ``cat``, readable failures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipfs_testdata import seeded
from twinledger.cli.ipfs import ipfs_group


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    spec = f"embedded:{tmp_path / 'store'}"

    def invoke(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(ipfs_group, ["--store", spec, *args], input=input, catch_exceptions=False)

    return invoke


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        (["--cid-version", "1"], "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        (["--cid-version", "1", "--no-raw-leaves"], "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"),
    ],
)
def test_add_only_hash_matches_kubo(run, tmp_path: Path, flags: list[str], expected: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello world")
    result = run("add", "--only-hash", *flags, str(f))
    assert result.exit_code == 0 and result.output == expected + "\n"
    assert not (tmp_path / "store").exists()  # only-hash touches no store


def test_add_seeded_file_and_cat(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = seeded(1048577)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    added = run("add", str(f))
    assert added.output.strip() == "Qme9q1rEyrCRD2WvCtjYSmLt2g2cekYM1C4Tn5mRivzuyB"
    assert run("add", "-n", "--chunker", "size-1024", str(f)).output.strip() != added.output.strip()
    cat = run("cat", added.output.strip())
    assert cat.exit_code == 0 and cat.stdout_bytes == data
    assert run("cat", "--offset", "5", "--length", "3", added.output.strip()).stdout_bytes == data[5:8]


def test_add_from_stdin(run) -> None:  # type: ignore[no-untyped-def]
    result = run("add", "--cid-version", "1", "-", input=b"hello world")
    assert result.output.strip() == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


@pytest.mark.parametrize(
    "args",
    [
        ["cat", "not-a-cid"],
        ["cat", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"],
        ["add", "--chunker", "rabin", "-"],
        ["add", "--chunker", "size-0", "-"],
        ["add", "/no/such/file"],
        ["pin", "rm", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"],
    ],
)
def test_bad_input_is_one_readable_line(run, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, input=b"x")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output


def test_unreachable_kubo_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"x")
    result = CliRunner().invoke(ipfs_group, ["--store", "kubo:http://127.0.0.1:9", "add", str(f)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no IPFS daemon at http://127.0.0.1:9"


def test_pin_block_and_dag_commands(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = random.Random(3).randbytes(300_000)
    f = tmp_path / "d.bin"
    f.write_bytes(data)
    cid = run("add", "--cid-version", "1", str(f)).output.strip()
    assert f"{cid} recursive" in run("pin", "ls").output
    assert run("block", "stat", cid).exit_code == 0
    car = tmp_path / "d.car"
    assert run("dag", "export", cid, str(car)).exit_code == 0
    other = CliRunner().invoke(ipfs_group, ["--store", f"embedded:{tmp_path / 'other'}", "dag", "import", str(car)])
    assert other.output.strip() == cid
    assert run("pin", "rm", cid).output.strip() == f"unpinned {cid}"

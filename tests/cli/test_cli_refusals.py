"""Refusals of the auditor's commands: an unknown twin or feed id, an AML file in a wrong namespace and a
bad `--ipfs` value each end as one `Error:` line that says what to do, with a non-zero exit and no
traceback or raw revert tuple, against a real DevStack (anvil + embedded IPFS)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli_harness import AML_V1, Twinledger

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    return tl.create_twin()


@pytest.mark.parametrize("args", [
    ("verify", "feed", "99"),
    ("verify", "batch", "99", "0"),
    ("verify", "reading", "99", "0", "0"),
    ("verify", "reading", "99", "--rid", "3"),
    ("feed", "export", "99", "-o", "out.csv"),
    ("feed", "tail", "99", "--once"),
])
def test_unknown_feed_is_one_line(tl: Twinledger, twin: int, args: tuple[str, ...], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = tl.fails(*args)
    assert line.startswith("Error: FeedNotFound: there is no feed 99 on this chain ("), line
    assert "twinledger feed list" in line and "reverted" not in line and "0x" not in line
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("args", [("verify", "twin", "42"), ("audit", "report", "--twin", "42", "-o", "r.html")])
def test_unknown_twin_is_one_line(tl: Twinledger, twin: int, args: tuple[str, ...], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = tl.fails(*args)
    assert line == (f"Error: TwinNotFound: there is no twin 42 on this chain (twins are 1..{twin}); "
                    "`twinledger twin list` shows them"), line
    assert not (tmp_path / "r.html").exists()


def test_feed_of_a_known_twin_is_found(tl: Twinledger, twin: int) -> None:
    """The same commands on an existing feed run normally (the check does not refuse real ids)."""
    sensor = "tank_level_a"
    out = tl("feed", "register", str(twin), sensor, "--device", "0x" + "11" * 20).stdout
    feed = int(out.split("Registered feed ")[1].split()[0])
    assert "VERDICT: PASS" in tl("verify", "feed", str(feed)).stdout
    assert tl.fails("verify", "feed", str(feed + 1)).startswith(f"Error: FeedNotFound: there is no feed {feed + 1} "
                                                                f"on this chain (feeds are 1..{feed})")


def test_aml_in_a_wrong_namespace_is_refused(tl: Twinledger, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-ns.aml"
    wrong.write_text(AML_V1.read_text().replace('xmlns="http://www.dke.de/CAEX"', 'xmlns="http://example.com/not-caex"'))
    line = tl.fails("twin", "create", "--aml", str(wrong))
    assert "wrong-ns.aml" in line and "'http://example.com/not-caex'" in line
    assert 'set xmlns="http://www.dke.de/CAEX"' in line


@pytest.mark.parametrize("spec", ["nonsense", "kubo:nonsense", "ftp://127.0.0.1:21"])
def test_bad_ipfs_value_is_refused_with_the_accepted_forms(tl: Twinledger, twin: int, spec: str) -> None:
    result = tl("--ipfs", spec, "verify", "twin", str(twin), ok=False)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: --ipfs: unknown IPFS store {spec!r}")
    assert "embedded:DIR" in line and "kubo:http://HOST:PORT" in line

"""The embedded importer's CIDs against an independent UnixFS implementation (npm ipfs-unixfs-importer).

Sizes are drawn at random around the places where the DAG changes shape: one chunk, a chunk
boundary, a full layer of links and one chunk more. Small chunk sizes and link counts give deep
trees from little data, so every layout branch is crossed in a second or two.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from twinledger.ipfs import ImportParams, cid_str, import_bytes

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tools" / "unixfs-reference.mjs"
SEED = 20261201


@dataclass(frozen=True)
class Case:
    size: int
    params: ImportParams

    def request(self, path: Path) -> dict[str, object]:
        return {
            "path": str(path),
            "cidVersion": self.params.cid_version,
            "rawLeaves": self.params.use_raw_leaves,
            "chunkSize": self.params.chunk_size,
            "maxLinks": self.params.max_links,
        }


def _cases(rng: random.Random) -> list[Case]:
    cases = []
    for _ in range(40):
        chunk = rng.choice([1, 7, 64, 1000, 4096])
        links = rng.choice([2, 3, 5, 11, 174])
        layer = chunk * links
        size = rng.choice([0, 1, chunk - 1, chunk, chunk + 1, layer - 1, layer, layer + 1,
                           layer * links + 1, rng.randrange(1, 3 * layer + 2)])
        size = min(size, chunk * 3000)  # bounded block count keeps both importers quick
        version = rng.choice([0, 1])
        raw_leaves = version == 1 and rng.choice([True, False])  # CIDv0 links only dag-pb blocks
        params = ImportParams(cid_version=version, raw_leaves=raw_leaves, chunk_size=chunk, max_links=links)
        cases.append(Case(size, params))
    # Kubo's own defaults: one 256 KiB chunk, one byte more, several chunks.
    kib256 = 256 * 1024
    for size in (kib256, kib256 + 1, 3 * kib256 + 17):
        cases.append(Case(size, ImportParams(cid_version=0)))
        cases.append(Case(size, ImportParams(cid_version=1)))
    return cases


def _reference_cids(cases: list[Case], files: list[Path]) -> list[str]:
    requests = "".join(json.dumps(case.request(path)) + "\n" for case, path in zip(cases, files))
    done = subprocess.run(["node", str(REFERENCE)], input=requests, capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_cids_equal_the_js_unixfs_importer(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cases = _cases(rng)
    files = []
    for i, case in enumerate(cases):
        path = tmp_path / f"f{i}"
        path.write_bytes(rng.randbytes(case.size))
        files.append(path)
    expected = _reference_cids(cases, files)
    assert len(expected) == len(cases)
    mismatches = [
        f"size {case.size}, {case.params}: embedded {cid_str(import_bytes(path.read_bytes(), case.params).cid)}, "
        f"js {js}"
        for case, path, js in zip(cases, files, expected)
        if cid_str(import_bytes(path.read_bytes(), case.params).cid) != js
    ]
    assert not mismatches, "\n".join(mismatches)

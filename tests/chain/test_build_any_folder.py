"""The project's contracts are found from any checkout folder, `.cache` included (tools/run_ape.py)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import ape.managers.project
import ape.utils.misc
import ape_compile.config
import pytest
import yaml
from ape.managers.project import SourceManager

REPO = Path(__file__).resolve().parents[2]


def _config_exclusions() -> set[str | re.Pattern[str]]:
    config = yaml.safe_load((REPO / "ape-config.yaml").read_text())
    return {re.compile(x[2:-1]) if x.startswith('r"') else x for x in config["compile"]["exclude"]}


@pytest.fixture
def launcher_exclusions(monkeypatch: pytest.MonkeyPatch) -> set[str | re.Pattern[str]]:
    for module in (ape.utils.misc, ape.managers.project, ape_compile.config):
        monkeypatch.setattr(module, "SOURCE_EXCLUDE_PATTERNS", ape.utils.misc.SOURCE_EXCLUDE_PATTERNS)
    spec = importlib.util.spec_from_file_location("run_ape", REPO / "tools" / "run_ape.py")
    assert spec and spec.loader
    run_ape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_ape)
    run_ape._patch_exclusions()
    return {*_config_exclusions(), *ape.managers.project.SOURCE_EXCLUDE_PATTERNS}


def _project_under_cache_folder(tmp_path: Path) -> Path:
    root = tmp_path / ".cache" / "checkout"
    for source in ("contracts/Feed.sol", "contracts/.cache/openzeppelin/5.4.0/Dep.sol", "contracts/.build/Old.sol"):
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\n")
    return root


def _visible(root: Path, exclusions: set[str | re.Pattern[str]]) -> set[str]:
    sources = SourceManager(root, lambda: root / "contracts", exclude_globs=exclusions)
    return {p.relative_to(root).as_posix() for p in sources.get_source_paths(include_missing_compilers=True)}


def _ape_own_exclusions() -> set[str]:
    """ape's patterns as a fresh interpreter has them: `make test` itself runs under the launcher."""
    code = "import json, ape.utils.misc as m; print(json.dumps(list(m.SOURCE_EXCLUDE_PATTERNS)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(done.stdout))


def test_ape_alone_compiles_nothing_under_a_cache_folder(tmp_path: Path) -> None:
    root = _project_under_cache_folder(tmp_path)
    assert _visible(root, {*_ape_own_exclusions()}) == set()


def test_the_launcher_finds_the_sources_and_still_skips_the_project_caches(
    tmp_path: Path, launcher_exclusions: set[str | re.Pattern[str]]
) -> None:
    root = _project_under_cache_folder(tmp_path)
    assert _visible(root, launcher_exclusions) == {"contracts/Feed.sol"}

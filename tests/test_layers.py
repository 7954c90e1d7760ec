"""The package's layers import only downwards (docs/architecture.md, "Layers").

Every module's imports are parsed (ast, function-level imports included) and resolved to a layer; an
import of a layer at the same or a higher rank fails with the module, line and target. The same walk
checks that contract functions are called only in `ledger/` and `chain/` and that no module is long.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "offchain" / "twinledger"

# Rank of each layer: a module may import its own layer and any layer of a lower rank, nothing else.
RANKS: dict[str, int] = {
    "errors": 0,
    "formats": 1,
    "ipfs": 2, "sim": 2,
    "chain": 3,
    "crypto": 4,
    "ledger": 5,
    "verify": 6, "agent": 6,
    "cli": 7, "web": 7,
    "demo": 8, "demo_cold_chain": 8,
}
CONTRACT_CALLERS = ("ledger", "chain")  # the only layers that touch `contract.functions`
MAX_MODULE_LINES = 600
FUNCTIONS_ATTRIBUTE = re.compile(r"\.functions\.")


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    what: str
    rule: str  # "layers", "calls" or "size"

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def layer_of(parts: list[str]) -> str:
    return parts[0] if parts else ""


def imported_modules(tree: ast.AST, parts: list[str], is_package: bool) -> list[tuple[int, list[str]]]:
    """(line, module path below `twinledger`) of every import of the package's own modules."""
    found: list[tuple[int, list[str]]] = []
    here = parts if is_package else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = base + (node.module.split(".") if node.module else [])
                if not node.module:  # `from . import x`: x is a module of that package
                    found += [(node.lineno, target + [a.name]) for a in node.names]
                    continue
                found.append((node.lineno, target))
            elif node.module and node.module.split(".")[0] == "twinledger":
                found.append((node.lineno, node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "twinledger"]
    return found


def check_package(root: Path, ranks: dict[str, int] = RANKS) -> list[Violation]:
    violations: list[Violation] = []
    for path in sorted(root.rglob("*.py")):
        parts = module_name(path, root)
        name = ".".join(["twinledger", *parts])
        text = path.read_text()
        lines = text.splitlines()
        if len(lines) > MAX_MODULE_LINES:
            violations.append(Violation(name, len(lines), f"{len(lines)} lines (limit {MAX_MODULE_LINES}): split it", "size"))
        own = layer_of(parts)
        if own and own not in ranks:
            violations.append(Violation(name, 1, f"layer {own!r} has no rank in tests/test_layers.py", "layers"))
            continue
        if own and own not in CONTRACT_CALLERS:
            for number, line in enumerate(lines, 1):
                if FUNCTIONS_ATTRIBUTE.search(line):
                    violations.append(Violation(name, number, "calls a contract function outside ledger/ and chain/",
                                                "calls"))
        for line, target in imported_modules(ast.parse(text), parts, path.name == "__init__.py"):
            other = layer_of(target)
            if not own or not other or other == own:
                continue
            if other not in ranks:
                violations.append(Violation(name, line, f"imports {'.'.join(target)}, a layer with no rank", "layers"))
            elif ranks[other] >= ranks[own]:
                violations.append(Violation(name, line, f"{own} (rank {ranks[own]}) imports {'.'.join(target)} "
                                                        f"({other}, rank {ranks[other]}): layers import only downwards", "layers"))
    return violations


def _broken(rule: str) -> list[str]:
    return [str(v) for v in check_package(PACKAGE) if v.rule == rule]


def test_layers_import_only_downwards() -> None:
    broken = _broken("layers")
    assert not broken, "\n".join(broken)


def test_contract_functions_are_called_only_in_ledger_and_chain() -> None:
    broken = _broken("calls")
    assert not broken, "\n".join(broken)


def test_no_module_is_too_long() -> None:
    broken = _broken("size")
    assert not broken, "\n".join(broken)


def test_every_package_has_a_rank() -> None:
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    layers |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert layers <= set(RANKS), layers - set(RANKS)


def test_the_checker_reports_an_upward_import_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "formats").mkdir()
    (tmp_path / "formats" / "__init__.py").write_text("")
    (tmp_path / "formats" / "bad.py").write_text("import json\n\ndef f():\n    from ..cli.main import cli\n")
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "__init__.py").write_text("from twinledger.verify import Verifier\n")
    (tmp_path / "agent" / "calls.py").write_text("x = chain.spec.functions.twinCount().call()\n" + "pass\n" * 600)
    found = {str(v) for v in check_package(tmp_path)}
    assert "twinledger.formats.bad:4: formats (rank 1) imports cli.main (cli, rank 7): layers import only downwards" in found
    assert any(v.startswith("twinledger.agent:1: agent (rank 6) imports verify") for v in found)
    assert "twinledger.agent.calls:1: calls a contract function outside ledger/ and chain/" in found
    assert "twinledger.agent.calls:601: 601 lines (limit 600): split it" in found
    assert len(found) == 4, found

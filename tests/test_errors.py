"""Every exception class of the package derives from `twinledger.errors.TwinLedgerError`."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import twinledger
from twinledger.errors import TwinLedgerError

# Control-flow signals that never leave their module (caught right where they are raised).
PRIVATE_SIGNALS = {"twinledger.formats.batchlayout._NotInLayout", "twinledger.agent.validation._Reject"}


def package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(twinledger.__path__, "twinledger."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("twinledger."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_error_has_the_one_root() -> None:
    exceptions = package_exceptions()
    assert len(exceptions) > 30  # the walk found the package's errors, not an empty set
    strays = sorted(name for name, cls in exceptions.items()
                    if not issubclass(cls, TwinLedgerError) and name not in PRIVATE_SIGNALS)
    assert not strays, f"derive these from TwinLedgerError: {strays}"


def test_the_tree_in_the_docstring_names_every_public_error() -> None:
    doc = inspect.getdoc(importlib.import_module("twinledger.errors")) or ""
    missing = sorted({cls.__name__ for name, cls in package_exceptions().items()
                      if cls is not TwinLedgerError and name not in PRIVATE_SIGNALS} - set(doc.replace(",", " ").split()))
    assert not missing, f"draw these in twinledger/errors.py's tree: {missing}"

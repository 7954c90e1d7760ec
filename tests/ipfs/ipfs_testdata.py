"""Test data shared by the IPFS tests (a uniquely named module, not conftest, so imports are unambiguous)."""

from __future__ import annotations

import random


def seeded(n: int) -> bytes:
    """The toolchain.md test files: ``random.Random(N).randbytes(N)``."""
    return random.Random(n).randbytes(n)

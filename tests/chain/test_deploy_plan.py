"""The deployment plan deploys production contracts only: the harnesses under `contracts/test/` (which expose
library internals for the tests that pin them) never reach a chain through `twinledger dev up` or the deploy
script."""
from __future__ import annotations

import re
from pathlib import Path

from twinledger.chain.deploy import DEPLOY_PLAN

HARNESSES = Path(__file__).resolve().parents[2] / "contracts" / "test"


def test_no_test_harness_is_deployed() -> None:
    harnesses = {m for f in HARNESSES.glob("*.sol") for m in re.findall(r"^contract\s+(\w+)", f.read_text(), re.M)}
    assert {"TestReadingCodec", "TestHeadChain"} <= harnesses
    planned = {step.contract for step in DEPLOY_PLAN}
    assert planned >= {"Authorization", "Specification", "SensorFeed", "AgreementRegistry"}
    assert not planned & harnesses

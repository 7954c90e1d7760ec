"""The twin's specification as the chain says it is: the latest spec version's AML, fetched by CID
from IPFS, checked against its on-chain digest, and parsed. The agent's safety & security rules and
its program table come from here, never from local configuration alone."""
from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from ..chain.connection import TwinLedgerChain
from ..client.aml import Program, TwinSpec, parse_aml
from ..formats import cids


class SpecError(RuntimeError):
    """The on-chain specification cannot be fetched or does not match its digest."""


@dataclass(frozen=True)
class OnChainSpec:
    spec: TwinSpec
    version: int
    cid: str

    def safety_rules(self) -> dict[str, tuple[float | None, float | None]]:
        """Sensor name -> (min, max) of its safety limits."""
        rules = {}
        for component in self.spec.sensors:
            limits = component.sensor.safety_limits if component.sensor else None
            if limits is not None:
                rules[component.name] = (float(limits.min), float(limits.max))
        return rules

    def programs_by_id(self) -> dict[bytes, Program]:
        return {bytes(p.program_id): p for p in self.spec.programs}


def load_spec(chain: TwinLedgerChain, store, twin: int) -> OnChainSpec:
    count = chain.spec.functions.specVersionCount(twin).call()
    if count == 0:
        raise SpecError(f"twin {twin} has no specification version")
    version = count - 1
    cid_digest, codec, digest, *_ = chain.spec.functions.specVersion(twin, version).call()
    cid = cids.unpack(cid_digest, codec)
    data = store.cat(cid)
    if keccak(data) != bytes(digest):
        raise SpecError(f"twin {twin} spec version {version}: content of {cid} does not match the on-chain digest")
    return OnChainSpec(spec=parse_aml(data, source=cid), version=version, cid=cid)

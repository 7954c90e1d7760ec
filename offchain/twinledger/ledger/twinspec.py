"""The twin's specification as the chain says it is: the latest spec version's AML, fetched by CID
from IPFS, checked against its on-chain digest, and parsed. The agent's safety & security rules and
its program table come from here, never from local configuration alone. An encrypted specification
(subject aml(twin), docs/formats.md section 6) is opened with the agent's account key, which must have
been a reader (DOC_READ on the twin) when the version was written; there is no fallback."""
from __future__ import annotations

from typing import Any

from dataclasses import dataclass

from eth_utils import keccak

from ..chain.connection import TwinLedgerChain
from ..formats.aml import Program, TwinSpec, parse_aml
from .sharing import account_key, spec_plaintext
from ..crypto import CryptoError
from ..formats import cids
from ..errors import TwinLedgerError


class SpecError(TwinLedgerError, RuntimeError):
    """The on-chain specification cannot be fetched or does not match its digest."""


@dataclass(frozen=True)
class OnChainSpec:
    spec: TwinSpec
    version: int
    cid: str

    def safety_rules(self) -> dict[str, tuple[float | None, float | None]]:
        """Sensor name -> (min, max) of its safety limits."""
        rules: dict[str, tuple[float | None, float | None]] = {}
        for component in self.spec.sensors:
            limits = component.sensor.safety_limits if component.sensor else None
            if limits is not None:
                rules[component.name] = (float(limits.min), float(limits.max))
        return rules

    def programs_by_id(self) -> dict[bytes, Program]:
        return {bytes(p.program_id): p for p in self.spec.programs}


def load_spec(chain: TwinLedgerChain, store: Any, twin: int, private_key: bytes | None = None) -> OnChainSpec:
    """The latest specification version; `private_key` (default: the chain account's) opens an encrypted one."""
    count = chain.spec.functions.specVersionCount(twin).call()
    if count == 0:
        raise SpecError(f"twin {twin} has no specification version")
    version = count - 1
    cid_digest, codec, digest, *_ = chain.spec.functions.specVersion(twin, version).call()
    cid = cids.unpack(cid_digest, codec)
    data = store.cat(cid)
    if keccak(data) != bytes(digest):
        raise SpecError(f"twin {twin} spec version {version}: content of {cid} does not match the on-chain digest")
    try:
        data = spec_plaintext(chain, store, twin, version, data, account_key(chain) if private_key is None else private_key)
    except CryptoError as exc:
        raise SpecError(f"cannot read the encrypted specification v{version} of twin {twin} ({type(exc).__name__}): "
                        f"{exc}. Grant the agent's account a role with DOC_READ on the twin (with a registered key) "
                        "and record the specification again") from None
    return OnChainSpec(spec=parse_aml(data, source=cid), version=version, cid=cid)

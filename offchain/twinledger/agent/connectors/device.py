"""Program calls from the chain to the plant's connectors, and acknowledgements back to the sources.

``ConnectorDevice`` is the ``Device`` the program-call watcher drives: it routes a call to the
connector whose ``programs`` mapping names it. The device's refusal becomes a ``CommandError``
(acknowledged on-chain as failed, with the device's message in the result); an unreachable device
raises ``DeviceUnavailable``, so the call stays Delivered and is tried again on the next poll.

``Acknowledgements`` holds the samples pushed into the pipeline until the pipeline has committed
them to the outbox (or rejected them for good), then hands them back to their connector.
"""
from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

from ...sim import CommandError
from .base import CallAnswer, ConnectorError, DeviceUnavailable, QueueConnector

__all__ = ["Acknowledgements", "ConnectorDevice"]


class ConnectorDevice:
    def __init__(self, connectors: Iterable[QueueConnector]) -> None:
        self.by_program: dict[str, QueueConnector] = {}
        for connector in connectors:
            for program in getattr(connector, "programs", {}):
                self.by_program.setdefault(program, connector)

    def __bool__(self) -> bool:
        return bool(self.by_program)

    def execute(self, program: str, args: Mapping[str, Any], *, call_id: int) -> CallAnswer:
        connector = self.by_program.get(program)
        if connector is None:
            raise CommandError(f"no source maps the program {program!r} (known: {', '.join(sorted(self.by_program))})")
        try:
            answer = connector.call(program, dict(args))
        except DeviceUnavailable:
            raise
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        if not answer.ok:
            raise CommandError(f"{connector.name}: {answer.message}")
        return answer


class Acknowledgements:
    """Samples pushed but not yet known to be committed, per connector."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._pending: dict[int, tuple[QueueConnector, list[Any]]] = {}

    def pushed(self, connector: QueueConnector, sample: Any) -> None:
        with self.lock:
            self._pending.setdefault(id(connector), (connector, []))[1].append(sample)

    def committed(self) -> int:
        """Call once the pipeline holds no uncommitted reading: everything pushed so far is settled."""
        with self.lock:
            pending, self._pending = self._pending, {}
        for connector, samples in pending.values():
            connector.acknowledge(samples)
        return sum(len(samples) for _, samples in pending.values())

"""`twinledger sim serve`: the bottling plant as a device on the network, an OPC UA server (sensors as
historized variables, programs as methods) and, optionally, an MQTT publisher."""
from __future__ import annotations

import asyncio
import signal
import time

import click


@click.group("sim")
def sim_group() -> None:
    """The simulated bottling plant."""


@sim_group.command("serve")
@click.option("--endpoint", default="opc.tcp://127.0.0.1:4840/twinledger/", show_default=True,
              help="OPC UA endpoint to listen on.")
@click.option("--mqtt", "mqtt_url", default=None, help="Also publish to this broker (mqtt://host:1883): readings "
              "on plant/<sensor>, commands on plant/cmd/<program>.")
@click.option("--seed", default=0, show_default=True)
@click.option("--hz", default=10.0, show_default=True, help="Samples per second of each sensor.")
@click.option("--mode", type=click.Choice(["auto", "manual"]), default="auto", show_default=True)
@click.option("--duration", "duration_s", type=float, default=None, help="Stop after this many seconds.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(endpoint: str, mqtt_url: str | None, seed: int, hz: float, mode: str, duration_s: float | None,
          log_level: str) -> None:
    """Run the plant in real time until SIGTERM/Ctrl-C (or --duration); program calls drive it."""
    from ..agent.commands import PlantDriver
    from ..sim import DEFAULT_SENSORS, FillingPlantSimulator
    from ..sim.server import serve as serve_plant
    from .agent import configure_logging

    if not endpoint.startswith("opc.tcp://"):
        raise click.BadParameter("the endpoint must look like opc.tcp://host:port/path", param_hint="--endpoint")
    configure_logging("console", log_level)
    plant = FillingPlantSimulator(seed=seed, rates_hz={s: hz for s in DEFAULT_SENSORS}, mode=mode,  # type: ignore[arg-type]
                                  start_ms=int(time.time() * 1000), duration_s=duration_s, realtime=False)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve_plant(endpoint, plant, PlantDriver(plant), mqtt_url=mqtt_url, stop=stop)

    written = asyncio.run(main())
    click.echo(f"plant stopped: {written} readings served, {plant.bottles_done} bottles filled")

"""`twinledger agent run --config FILE`: the device agent daemon's command line."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time

import click
import structlog


def configure_logging(fmt: str, level: str) -> None:
    """Structured logs on stderr (stdout may be the data source's pipe partner)."""
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


@click.group("agent")
def agent_group() -> None:
    """The device agent: validate, batch, store and anchor sensor data; execute program calls."""


@agent_group.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Agent configuration (YAML, JSON or TOML).")
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--status-every", default=1.0, show_default=True, help="Seconds between status lines.")
def run(config_path: str, log_format: str, log_level: str, status_every: float) -> None:
    """Run until the source ends or SIGTERM; the open batch is flushed and anchored before exit."""
    stop = threading.Event()
    started = time.monotonic()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)  # first thing: a stop during start-up must end cleanly too
    signal.signal(signal.SIGINT, on_signal)
    from ..agent.config import load_config
    from ..agent.daemon import AgentDaemon

    configure_logging(log_format, log_level)
    daemon = AgentDaemon(load_config(config_path), stop_event=stop)
    structlog.get_logger(__name__).info("agent ready", startup_s=round(time.monotonic() - started, 2))
    summary = daemon.run(status_every_s=status_every, install_signals=False)
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))

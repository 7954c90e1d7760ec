"""`twinledger agent run --config FILE` (the device agent daemon) and `twinledger agent archive-outbox`."""
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

    from ..agent.config import ConfigError
    from ..agent.guards import AgentRefused

    configure_logging(log_format, log_level)
    try:  # every problem of these, one line each (the group's error path keeps only the first line)
        daemon = AgentDaemon(load_config(config_path), stop_event=stop)
    except (ConfigError, AgentRefused) as exc:
        raise click.ClickException(str(exc)) from None
    structlog.get_logger(__name__).info("agent ready", startup_s=round(time.monotonic() - started, 2))
    summary = daemon.run(status_every_s=status_every, install_signals=False)
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
    refused = daemon.refusals()
    if refused:
        raise click.ClickException(refused)


@agent_group.command("archive-outbox")
@click.option("--outbox", "outbox_path", type=click.Path(dir_okay=False), help="The outbox file to move aside.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Or the agent configuration whose outbox_path to move aside.")
def archive_outbox_cmd(outbox_path: str | None, config_path: str | None) -> None:
    """Move an outbox aside (e.g. one written for another chain), so the next run starts a new one."""
    from pathlib import Path

    from ..agent.config import load_config
    from ..agent.guards import archive_outbox

    if (outbox_path is None) == (config_path is None):
        raise click.UsageError("give exactly one of --outbox and --config")
    path = Path(outbox_path) if outbox_path else load_config(config_path).outbox_path
    target = archive_outbox(path)
    click.echo(f"Archived {path} as {target}; the next `twinledger agent run` starts a new outbox.")

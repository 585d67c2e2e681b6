"""``vigil run``: the long-running service."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from streamer.config import load_config

CONFIG_OPTION = typer.Option(None, "--config", "-c", help="YAML config (default ./vigil.yaml, else built-in defaults).")


def run(config: Path | None = CONFIG_OPTION) -> None:
    """Run the service: cameras, pipeline, MQTT alerts, /metrics. Stops cleanly on Ctrl-C or SIGTERM."""
    from streamer.service import run_service

    settings = load_config(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_service(settings, stop)


def demo(
    workdir: Path = typer.Option(Path("data/demo"), help="Where the demo keeps its clip, watchlist and snapshots."),
    timeout: float = typer.Option(180.0, help="Give up after this many seconds."),
) -> None:
    """Run the embedded demo: local broker + RTSP camera + bundled watchlist; prints alerts as they arrive."""
    from streamer.demo.run import run_demo

    code = run_demo(workdir, timeout)
    raise typer.Exit(code)

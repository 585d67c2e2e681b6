"""``vigil run`` and ``vigil demo``: the long-running service, and the embedded demo of it."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from streamer.config import load_config

ConfigPath = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (default ./vigil.yaml, else built-in defaults).")
]


def run(config: ConfigPath = None) -> None:
    """Run the service: cameras, pipeline, MQTT alerts, /metrics. Stops cleanly on Ctrl-C or SIGTERM."""
    from streamer.service import run_service

    settings = load_config(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_service(settings, stop)


def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its clip, watchlist and snapshots.")] = Path(
        "data/demo"
    ),
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 180.0,
) -> None:
    """Run the embedded demo: a local broker, a local RTSP camera, a bundled watchlist; prints alerts as they arrive.

    Exits 0 once every demo reference has opened and closed an alert, 1 if one never did within ``--timeout``.
    """
    from streamer.demo.run import run_demo

    raise typer.Exit(run_demo(workdir, timeout))


def bench(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="adaptation, decode, embedding, engines, faces, latency, node, search or soak (repeatable; soak"
            " takes 30 min).",
        ),
    ] = None,
    quick: Annotated[bool, typer.Option(help="Short measurements: a smoke run, not numbers to quote.")] = False,
    output: Annotated[Path, typer.Option(help="Where to save the results as JSON.")] = Path("data/bench/results.json"),
    scene: Annotated[
        str | None,
        typer.Option(help="Node benchmark: scene model, as models.scene (mobilenet_v2, mobilenet_v2_pooled)."),
    ] = None,
    scene_regions: Annotated[
        str | None, typer.Option(help="Node benchmark: region grid, as models.scene_regions (3x2, 3x2+4x3 ...).")
    ] = None,
) -> None:
    """Run the benchmarks (what `make bench` runs): tables of ratios measured side by side in one run."""
    from streamer.bench.runner import run_benchmarks

    if scene or scene_regions:
        from streamer.bench.node_stages import scene_settings

        try:
            scene_settings(scene, scene_regions)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--scene/--scene-regions") from None
    try:
        run_benchmarks(only or [], quick, output, scene=scene, regions=scene_regions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from None

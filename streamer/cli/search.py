"""``vigil search IMAGE``: forensic search, the past keyframes of this node that look like an image.

Thin: reads the node's keyframe archive (``<data>/archive``, from the config) with the configured scene model; the
work is in ``streamer.archive``. Exit 2 for a bad option (a time that is not ISO 8601 names the option), 1 when the
node has no archive yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamer.archive.errors import ArchiveError
from streamer.archive.keyframes import DATABASE_NAME, ArchivedKeyframe, KeyframeArchive, archive_folder
from streamer.archive.times import parse_time
from streamer.cli.watchlist_options import ConfigOption, JsonOption, kind_embedders
from streamer.cli.watchlist_render import console, echo_json
from streamer.config import load_config
from watchlists.images import read_image_file

TimeOption = Annotated[str | None, typer.Option(help="ISO 8601 time, UTC unless it says (2026-11-25T14:00:00Z).")]


def search_command(
    image: Annotated[Path, typer.Argument(help="An image file: what to look for.", metavar="IMAGE")],
    camera: Annotated[str | None, typer.Option(help="Only this camera's keyframes.")] = None,
    since: TimeOption = None,
    until: TimeOption = None,
    top_k: Annotated[int, typer.Option(min=1, max=100, help="At most this many keyframes.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Past keyframes that look like IMAGE, best first (forensic search in the keyframe archive)."""
    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    settings = load_config(config)
    folder = archive_folder(settings.storage)
    if not (folder / DATABASE_NAME).is_file():
        state = "on" if settings.archive.enabled else "off (archive.enabled: false)"
        raise ArchiveError(f"no keyframe archive yet at {folder} (the archive is {state})", code="no_archive")
    pixels = read_image_file(image).pixels
    model = kind_embedders(settings, show_progress=not as_json).for_kind("anomaly")  # the scene model
    vector = model.embed([pixels])[0]
    archive = KeyframeArchive(folder, settings.archive)
    try:
        found = archive.search(vector, model.version, camera=camera, since=start, until=end, top_k=top_k)
    finally:
        archive.close()
    if as_json:
        echo_json({"model": model.version, "results": [_json(k) for k in found]})
    else:
        _print(found, model.version)


def _json(keyframe: ArchivedKeyframe) -> dict[str, object]:
    return {
        "id": keyframe.id,
        "camera": keyframe.camera,
        "frame_time": keyframe.frame_time.isoformat(),
        "score": round(keyframe.score, 4),
        "thumbnail": str(keyframe.thumbnail),
    }


def _print(found: list[ArchivedKeyframe], model: str) -> None:
    if not found:
        typer.echo(f"no archived keyframes match the filters (model {model})")
        return
    from rich.table import Table

    table = Table("camera", "time (UTC)", "score", "thumbnail", title=f"keyframes like the image ({model})")
    for k in found:
        table.add_row(k.camera, k.frame_time.strftime("%Y-%m-%d %H:%M:%S"), f"{k.score:.3f}", str(k.thumbnail))
    console().print(table)

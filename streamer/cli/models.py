"""``vigil models``: list, export and build the embedding models."""

from __future__ import annotations

import typer

models_app = typer.Typer(help="List, export (to ONNX) and build (compile and cache) the embedding models.",
                         no_args_is_help=True)

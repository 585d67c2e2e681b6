"""``vigil models``: list, export and build the embedding models.

Thin commands over ``engines``: ``export`` fills the ONNX cache (the only step that needs PyTorch), ``build``
also creates the backend once, so that whatever a backend compiles or caches is ready before the service starts.
Options left out fall back to the config's ``models`` section (``-c``, else ``./vigil.yaml``, else defaults).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from engines.backends import BACKENDS, create_backend, resolve_backend_name
from engines.errors import EngineError
from engines.export import export_model, exported_model_path, resolve_cache_dir
from engines.registry import MODELS, ModelSpec
from streamer.config import ModelsConfig, load_config

models_app = typer.Typer(
    help="List, export (to ONNX) and build (compile and cache) the embedding models.", no_args_is_help=True
)

_CONFIG = typer.Option(None, "--config", "-c", help="Config file (default ./vigil.yaml if present).")
_CACHE_DIR = typer.Option(
    None, "--cache-dir", help="Model cache (default: config models.cache_dir, $VIGIL_CACHE_DIR, ~/.cache/vigil/models)."
)
_MODEL_NAME = typer.Argument(None, help=f"Model (default: all): {', '.join(sorted(MODELS))}.")


def _console(*, wide: bool = False) -> Console:
    """Stdout console; when piped (not a terminal), wide enough that version hashes and paths stay on one line."""
    console = Console()
    if wide and not console.is_terminal:
        console.width = 200
    return console


def _models_config(config: Path | None) -> ModelsConfig:
    return load_config(config).models


def _selected(name: str | None) -> list[ModelSpec]:
    """The named model, or every registered one; an unknown name is a usage error (exit 2)."""
    if name is None:
        return list(MODELS.values())
    if name not in MODELS:
        raise typer.BadParameter(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}", param_hint="NAME")
    return [MODELS[name]]


def _backend_name(name: str) -> str:
    """``auto`` resolved, or the named backend; an unknown name is a usage error (exit 2)."""
    if name != "auto" and name not in BACKENDS:
        known = ", ".join(["auto", *sorted(BACKENDS)])
        raise typer.BadParameter(f"unknown backend {name!r}; known: {known}", param_hint="--backend")
    return resolve_backend_name(name)


@models_app.command("list")
def list_models(config: Path | None = _CONFIG, cache_dir: Path | None = _CACHE_DIR) -> None:
    """Show every registered model: version, output size, input size and whether its ONNX export is cached."""
    cache = resolve_cache_dir(cache_dir or _models_config(config).cache_dir)
    table = Table(title=f"Models (cache: {cache})")
    for column in ("name", "kind", "version", "dim", "input", "cached", "path"):
        table.add_column(column, overflow="fold")
    for spec in MODELS.values():
        table.add_row(*_list_row(spec, cache))
    _console(wide=True).print(table)


def _list_row(spec: ModelSpec, cache: Path) -> list[str]:
    """One table row; a model whose weights are not installed is still listed, with the reason in place of a path."""
    height, width = spec.input_size
    fixed = [spec.name, spec.kind]
    size = [str(spec.output_dim), f"{width}x{height}"]
    try:
        path = exported_model_path(spec, cache)
    except EngineError as exc:
        return [*fixed, f"[red]{exc.code}[/red]", *size, "-", exc.message]
    cached = "[green]yes[/green]" if path.is_file() else "no"
    return [*fixed, spec.version, *size, cached, str(path)]


@models_app.command("export")
def export_models(
    name: str | None = _MODEL_NAME,
    config: Path | None = _CONFIG,
    cache_dir: Path | None = _CACHE_DIR,
) -> None:
    """Export models to ONNX into the cache (needs PyTorch; a cached version is left as it is)."""
    cache = resolve_cache_dir(cache_dir or _models_config(config).cache_dir)
    console = _console()
    for spec in _selected(name):
        was_cached = exported_model_path(spec, cache).is_file()
        path = export_model(spec, cache, show_progress=True)
        console.print(f"{spec.version}: {'already cached' if was_cached else 'exported'} -> {path}", soft_wrap=True)


@models_app.command("build")
def build_models(
    name: str | None = _MODEL_NAME,
    backend: str | None = typer.Option(
        None, "--backend", "-b", help=f"auto | {' | '.join(sorted(BACKENDS))} (default: config models.backend)."
    ),
    config: Path | None = _CONFIG,
    cache_dir: Path | None = _CACHE_DIR,
) -> None:
    """Export models if needed, then create each backend once so that its compiled or warmed-up form is ready."""
    settings = _models_config(config)
    chosen = _backend_name(backend or settings.backend)
    cache = resolve_cache_dir(cache_dir or settings.cache_dir)
    console = _console()
    options = settings.backend_options()
    for spec in _selected(name):
        started = time.monotonic()
        runtime = create_backend(chosen, spec, cache_dir=cache, show_progress=True, options=options)
        console.print(f"{spec.version}: built on {runtime.name} in {time.monotonic() - started:.1f} s", soft_wrap=True)

"""Inference backends: one module per runtime, chosen by name from an explicit table.

A backend turns a ``ModelSpec`` into something that runs NCHW float32 batches. Each runtime is imported only when
its backend is created, so a machine without TensorRT or PyTorch can still serve with ONNX Runtime; a runtime that
is missing disables that backend alone, with an error that says so.

Backends take the spec (not a file) because each prepares its own artefact: ONNX Runtime loads the ONNX export,
TensorRT will compile an engine from it, the torch backend will build the network directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from engines.errors import EngineError
from engines.registry import ModelSpec

log = logging.getLogger(__name__)


class InferenceBackend(Protocol):
    """What ``SceneEmbedder`` (and later the face engines) need from a runtime.

    Attributes:
        name: the backend's table key (``onnxruntime`` ...), reported in metrics (``vigil_build_info``) and logs.
    """

    name: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run an NCHW float32 batch; return the model's output, one row per item. Safe to call from many threads."""
        ...


BackendFactory = Callable[[ModelSpec, Path | None, int, bool], InferenceBackend]


def _onnxruntime(spec: ModelSpec, cache_dir: Path | None, threads: int, show_progress: bool) -> InferenceBackend:
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.export import export_model

    return OnnxRuntimeBackend(export_model(spec, cache_dir, show_progress=show_progress), threads=threads)


def _not_available(name: str) -> BackendFactory:
    def refuse(spec: ModelSpec, cache_dir: Path | None, threads: int, show_progress: bool) -> InferenceBackend:
        raise EngineError(
            f"backend {name!r} is not available yet; use 'onnxruntime' or 'auto'", code="backend_unavailable"
        )

    return refuse


BACKENDS: dict[str, BackendFactory] = {
    "onnxruntime": _onnxruntime,
    "torch": _not_available("torch"),
    "tensorrt": _not_available("tensorrt"),
}
"""Every backend by name. ``auto`` is not a row: ``resolve_backend_name`` decides what it means on this machine."""


def resolve_backend_name(name: str) -> str:
    """Map ``auto`` to the backend this machine should use (ONNX Runtime for now); check any other name.

    Raises:
        EngineError: ``unknown_backend``, listing the known names.
    """
    if name == "auto":
        log.info("backend 'auto' -> 'onnxruntime' (the only backend available in this build)")
        return "onnxruntime"
    if name not in BACKENDS:
        known = ", ".join(["auto", *sorted(BACKENDS)])
        raise EngineError(f"unknown backend {name!r}; known backends: {known}", code="unknown_backend")
    return name


def create_backend(
    name: str, spec: ModelSpec, *, cache_dir: Path | str | None = None, threads: int = 0, show_progress: bool = False
) -> InferenceBackend:
    """Build the named backend for ``spec``, exporting or compiling the model first if its cache lacks it.

    Args:
        name: ``auto``, ``onnxruntime``, ``torch`` or ``tensorrt`` (the config's ``models.backend``).
        spec: the model to run.
        cache_dir: where exports are cached (see ``engines.export.resolve_cache_dir``).
        threads: intra-op CPU threads; 0 = all cores.
        show_progress: show a status line while a slow export or compile runs.

    Raises:
        EngineError: ``unknown_backend``, ``backend_unavailable``, or whatever exporting and loading raise.
    """
    factory = BACKENDS[resolve_backend_name(name)]
    return factory(spec, Path(cache_dir) if cache_dir is not None else None, threads, show_progress)

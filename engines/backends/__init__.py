"""Inference backends: one module per runtime, chosen by name from an explicit table.

A backend turns a ``ModelSpec`` into something that runs NCHW float32 batches. Each runtime is imported only when
its backend is created, so a machine without TensorRT or PyTorch can still serve with ONNX Runtime; a runtime that
is missing disables that backend alone, with an error that says why.

Backends take the spec (not a file) because each prepares its own artefact: ONNX Runtime loads the ONNX export,
TensorRT compiles an engine from it, the torch backend builds the network directly from the registry.

``auto`` is not a row: it means tensorrt > torch (CUDA) > onnxruntime, whichever this machine can run first
(``engines.backends.devices.choose_auto``), and the choice is logged with its reason.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from engines.backends.devices import choose_auto, tensorrt_unavailable_reason
from engines.backends.options import BackendOptions
from engines.errors import EngineError
from engines.registry import ModelSpec

log = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "BackendOptions",
    "InferenceBackend",
    "backend_unavailable_reason",
    "create_backend",
    "resolve_backend_name",
]


class InferenceBackend(Protocol):
    """What ``SceneEmbedder`` and the face engines need from a runtime.

    Attributes:
        name: the backend's table key (``onnxruntime`` ...), reported in metrics (``vigil_build_info``) and logs.
    """

    name: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run an NCHW float32 batch; return the model's output, one row per item. Safe to call from many threads."""
        ...


BackendFactory = Callable[[ModelSpec, Path | None, BackendOptions, bool], InferenceBackend]
"""``(spec, cache_dir, options, show_progress) -> backend``: one per row of ``BACKENDS``."""


def _onnxruntime(spec: ModelSpec, cache_dir: Path | None, options: BackendOptions, show: bool) -> InferenceBackend:
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.export import export_model

    return OnnxRuntimeBackend(export_model(spec, cache_dir, show_progress=show), threads=options.threads)


def _torch(spec: ModelSpec, cache_dir: Path | None, options: BackendOptions, show: bool) -> InferenceBackend:
    try:
        from engines.backends.torch import load_torch_backend
    except ImportError as exc:
        raise EngineError(
            f"backend 'torch' is not available: {exc.name or 'PyTorch'} is not installed", code="backend_unavailable"
        ) from None
    return load_torch_backend(spec, options)


def _tensorrt(spec: ModelSpec, cache_dir: Path | None, options: BackendOptions, show: bool) -> InferenceBackend:
    reason = tensorrt_unavailable_reason()
    if reason is not None:
        raise EngineError(f"backend 'tensorrt' is not available: {reason}", code="backend_unavailable")
    from engines.backends.tensorrt import load_tensorrt_backend

    return load_tensorrt_backend(spec, cache_dir, options, show_progress=show)


BACKENDS: dict[str, BackendFactory] = {
    "onnxruntime": _onnxruntime,
    "torch": _torch,
    "tensorrt": _tensorrt,
}
"""Every backend by name."""


def resolve_backend_name(name: str) -> str:
    """Map ``auto`` to the backend this machine should use, logging the choice and why; check any other name.

    Raises:
        EngineError: ``unknown_backend``, listing the known names.
    """
    if name == "auto":
        chosen, why = choose_auto()
        log.info("backend 'auto' -> '%s' (%s)", chosen, why)
        return chosen
    if name not in BACKENDS:
        known = ", ".join(["auto", *sorted(BACKENDS)])
        raise EngineError(f"unknown backend {name!r}; known backends: {known}", code="unknown_backend")
    return name


def create_backend(
    name: str,
    spec: ModelSpec,
    *,
    cache_dir: Path | str | None = None,
    threads: int = 0,
    show_progress: bool = False,
    options: BackendOptions | None = None,
) -> InferenceBackend:
    """Build the named backend for ``spec``, exporting or compiling the model first if its cache lacks it.

    Args:
        name: ``auto``, ``onnxruntime``, ``torch`` or ``tensorrt`` (the config's ``models.backend``).
        spec: the model to run.
        cache_dir: where exports and engines are cached (see ``engines.export.resolve_cache_dir``).
        threads: intra-op CPU threads (0 = all cores); used when ``options`` is not given.
        show_progress: show a status line while a slow export or compile runs.
        options: everything else (precision, max batch, CUDA graphs, compile, calibration);
            ``ModelsConfig.backend_options()`` builds them from the config.

    Raises:
        EngineError: ``unknown_backend``, ``backend_unavailable``, ``bad_backend_option``, or whatever exporting,
            compiling and loading raise.
    """
    options = options if options is not None else BackendOptions(threads=threads)
    factory = BACKENDS[resolve_backend_name(name)]
    return factory(spec, Path(cache_dir) if cache_dir is not None else None, options, show_progress)


def backend_unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here (``None`` when it can, as far as can be told without building it).

    ``torch`` counts as available on the CPU; what ``auto`` prefers is a separate question (``choose_auto``).
    """
    if name == "tensorrt":
        return tensorrt_unavailable_reason()
    if name == "torch":
        return None if importlib.util.find_spec("torch") is not None else "PyTorch is not installed"
    return None if name in BACKENDS else f"unknown backend {name!r}"

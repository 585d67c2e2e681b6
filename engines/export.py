"""Export a registered model from PyTorch to ONNX, once, into a cache keyed by the model version.

The exported file is named ``<name>-<hash>.onnx`` after the model version, so a new version never reads a stale
file and a cache hit is just "the file exists": no torch import, no hashing beyond the version itself. Nodes that
only serve need ONNX Runtime, not PyTorch, once the cache is filled (``vigil models export`` on a build machine).

Writes are atomic (a temporary file in the same folder, checked by ``onnx.checker``, then renamed), so a crash
leaves no half-written model. Two processes exporting the same model take turns on a lock file: the second finds
the first one's result instead of exporting again, and even without the lock neither could see a partial file.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engines.atomic_write import replaced_on_success
from engines.errors import EngineError
from engines.registry import ModelSpec

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"
CACHE_ENV = "VIGIL_CACHE_DIR"
LOCK_TIMEOUT_S = 600.0


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The folder exported models go to: the argument, else ``$VIGIL_CACHE_DIR``, else ``~/.cache/vigil/models``.

    Read at call time (never at import), so tests and services can point it elsewhere.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".cache" / "vigil" / "models"


def exported_model_path(spec: ModelSpec, cache_dir: Path | str | None = None) -> Path:
    """Where the ONNX export of ``spec``'s current version lives (whether or not it exists yet)."""
    digest = spec.version.partition("@")[2]
    return resolve_cache_dir(cache_dir) / f"{spec.name}-{digest}.onnx"


def export_model(spec: ModelSpec, cache_dir: Path | str | None = None, *, show_progress: bool = True) -> Path:
    """Return the ONNX file for ``spec``, exporting it first if this version is not cached yet.

    Args:
        spec: the model to export.
        cache_dir: see ``resolve_cache_dir``.
        show_progress: show a status line on stderr while exporting (it takes seconds); cache hits are silent.

    Raises:
        EngineError: ``export_failed`` (torch missing, export or check failed), ``weights_missing``,
            ``weights_mismatch``, or ``export_locked`` when another export held the lock too long.
    """
    target = exported_model_path(spec, cache_dir)
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create model cache {target.parent}: {exc}", code="export_failed") from None
    with _export_lock(target), _export_status(spec, show_progress) as step:
        if target.is_file():  # another process exported it while we waited
            log.info("model %s: exported by another process meanwhile, using %s", spec.version, target)
            return target
        started = time.monotonic()
        _export_atomically(spec, target, step)
        log.info("model %s exported to %s in %.1f s", spec.version, target, time.monotonic() - started)
    return target


def _export_atomically(spec: ModelSpec, target: Path, step: Callable[[str], None]) -> None:
    with replaced_on_success(target) as temporary:
        step("building the PyTorch network")
        network = _build_network(spec)
        step("tracing and writing ONNX")
        _write_onnx(network, spec, temporary)
        step("checking the ONNX graph")
        _check_onnx(temporary)


def _build_network(spec: ModelSpec) -> nn.Module:
    """Import torch (only now: a cache hit never gets here) and build the spec's network."""
    module_name, _, function_name = spec.network.partition(":")
    try:
        module = importlib.import_module(module_name)  # imports torch and torchvision
    except ImportError as exc:
        raise EngineError(
            f"exporting {spec.name} needs {exc.name or 'PyTorch'}, which is not installed: "
            f"pip install 'vigil[export]' (or copy an exported model into the cache)",
            code="export_failed",
        ) from None
    return getattr(module, function_name)(spec)


def _write_onnx(network: nn.Module, spec: ModelSpec, path: Path) -> None:
    import torch

    height, width = spec.input_size
    example = torch.zeros(1, 3, height, width, dtype=torch.float32)
    # A fully convolutional network (MTCNN's PNet) takes any image size and returns a map that follows it.
    axes = {0: "batch", 2: "height", 3: "width"} if spec.dynamic_size else {0: "batch"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # dynamo=False is deliberate: the TorchScript exporter is the one proven with these torch builds and
            # needs no onnxscript. Hide its deprecation notices, keep every other warning (TracerWarning above all).
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                network,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:  # torch raises many unrelated types; all mean the same thing here
        raise EngineError(f"ONNX export of {spec.name} failed: {exc}", code="export_failed") from exc


def _check_onnx(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise EngineError(f"exported model {path.name} is not valid ONNX: {exc}", code="export_failed") from exc


@contextlib.contextmanager
def _export_lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` exclusively so that concurrent exporters of one version take turns."""
    lock_path = target.with_name(target.name + ".lock")
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    try:
        lock_file = lock_path.open("a")
    except OSError as exc:
        raise EngineError(f"cannot write to model cache {target.parent}: {exc}", code="export_failed") from None
    with lock_file:
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"another process has been exporting {target.name} for over {LOCK_TIMEOUT_S:.0f} s "
                        f"(lock {lock_path})",
                        code="export_locked",
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextlib.contextmanager
def _export_status(spec: ModelSpec, show: bool) -> Iterator[Callable[[str], None]]:
    """Yield a ``step(text)`` callback that updates a rich status line on stderr (or only logs, when hidden)."""
    title = f"Exporting {spec.version} to ONNX"
    if not show:
        yield lambda text: log.debug("%s: %s", title, text)
        return
    from rich.console import Console

    with Console(stderr=True).status(title) as status:

        def step(text: str) -> None:
            log.debug("%s: %s", title, text)
            status.update(f"{title}: {text}")

        yield step

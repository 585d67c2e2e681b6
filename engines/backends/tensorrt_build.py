"""Compile a TensorRT 10 engine from a model's ONNX export: precision, dynamic-batch profile, INT8 calibration.

The ONNX export is the single source (the same file ONNX Runtime runs), parsed by TensorRT's ONNX parser. The
engine gets one optimisation profile (``tensorrt_cache.profile_shapes``): batch 1..max_batch, tuned for the
largest. fp16 lets TensorRT pick half-precision kernels layer by layer; INT8 adds entropy calibration on the
operator's images, with fp16 left on for the layers INT8 cannot run. The calibration table is kept in the cache,
named without the GPU: calibration happens before layer fusion, so nodes of one TensorRT version with different GPUs
calibrate once.

Builds are slow (tens of seconds to minutes), so they take turns on a lock file and land atomically, exactly like
ONNX exports: two processes starting at once build once, and a crash never leaves half an engine.

Written against the TensorRT 10 Python API; it cannot be installed on the project's CPU machines and runs where
``tensorrt`` imports (NVIDIA's container or index).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import tensorrt as trt
import torch

from engines.atomic_write import replaced_on_success
from engines.backends.calibration import calibration_batch, calibration_files
from engines.backends.options import BackendOptions
from engines.backends.tensorrt_cache import profile_shapes
from engines.errors import EngineError
from engines.export import _export_lock
from engines.registry import ModelSpec

log = logging.getLogger(__name__)

CALIBRATION_BATCH = 8
"""Images per calibration batch (fewer when the set is smaller)."""


class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
    """Feeds preprocessed calibration images to TensorRT's INT8 calibration, one device batch at a time.

    Args:
        batch: ``(N, 3, H, W)`` float32 images, preprocessed like frames (``calibration.calibration_batch``).
        batch_size: images per calibration batch; the last partial batch is left out (TensorRT takes full ones).
        cache_path: calibration table file: read if present (no images are run then), written after calibrating.
    """

    def __init__(self, batch: np.ndarray, batch_size: int, cache_path: Path) -> None:
        trt.IInt8EntropyCalibrator2.__init__(self)
        self._batch_size = batch_size
        self._host = batch[: len(batch) - len(batch) % batch_size]
        self._cache_path = cache_path
        self._device = torch.empty((batch_size, *batch.shape[1:]), dtype=torch.float32, device="cuda")
        self._next = 0

    def get_batch_size(self) -> int:
        return self._batch_size

    def get_batch(self, names: list[str]) -> list[int] | None:
        """Copy the next batch to the device and return its address, or ``None`` when the images are used up."""
        if self._next + self._batch_size > len(self._host):
            return None
        chunk = self._host[self._next : self._next + self._batch_size]
        self._device.copy_(torch.from_numpy(np.ascontiguousarray(chunk)))
        torch.cuda.synchronize()
        self._next += self._batch_size
        return [int(self._device.data_ptr())]

    def read_calibration_cache(self) -> bytes | None:
        return self._cache_path.read_bytes() if self._cache_path.is_file() else None

    def write_calibration_cache(self, cache: bytes) -> None:
        self._cache_path.write_bytes(bytes(cache))


def build_engine(
    spec: ModelSpec, onnx_path: Path, target: Path, options: BackendOptions, calibration_cache: Path | None = None
) -> Path:
    """Return ``target``, compiling it from ``onnx_path`` first unless it exists (or another process built it).

    Args:
        spec: the model.
        onnx_path: its ONNX export.
        target: the engine file (``tensorrt_cache.engine_path``).
        options: precision, batch range, workspace, calibration images.
        calibration_cache: INT8 only: the calibration table file, read if present, written after calibrating.

    Raises:
        EngineError: ``engine_build_failed`` (parse or build failed), ``bad_calibration_set``, ``export_locked``.
    """
    if target.is_file():
        return target
    with _export_lock(target):
        if target.is_file():
            log.info("tensorrt: %s built by another process meanwhile", target.name)
            return target
        started = time.monotonic()
        serialized = _build_serialized(spec, onnx_path, options, calibration_cache)
        with replaced_on_success(target) as temporary:
            temporary.write_bytes(serialized)
        log.info("tensorrt: built %s in %.0f s", target.name, time.monotonic() - started)
    return target


def _build_serialized(
    spec: ModelSpec, onnx_path: Path, options: BackendOptions, calibration_cache: Path | None
) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network has an explicit batch axis
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path.name}: {errors}", code="engine_build_failed")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    input_name = network.get_input(0).name
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *profile_shapes(spec, options.max_batch, options.max_image_side))
    config.add_optimization_profile(profile)
    precision = options.gpu_precision()
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    calibrator = None  # kept referenced until the build is done: TensorRT calls back into it
    if precision == "int8":
        if calibration_cache is None:
            raise EngineError("an int8 build needs a calibration table path", code="engine_build_failed")
        calibrator = _add_calibration(builder, config, spec, input_name, options, calibration_cache)
    serialized = builder.build_serialized_network(network, config)
    del calibrator
    if serialized is None:
        raise EngineError(
            f"TensorRT could not build an engine for {spec.name} (see its log above)", code="engine_build_failed"
        )
    return bytes(serialized)


def _add_calibration(
    builder: trt.Builder,
    config: trt.IBuilderConfig,
    spec: ModelSpec,
    input_name: str,
    options: BackendOptions,
    cache: Path,
) -> EntropyCalibrator:
    """INT8 on: the calibrator, and a calibration profile of fixed shape (calibration runs one shape only)."""
    assert options.calibration_images is not None  # BackendOptions refuses int8 without them
    images = calibration_batch(calibration_files(options.calibration_images), spec)
    batch_size = min(CALIBRATION_BATCH, len(images))
    calibrator = EntropyCalibrator(images, batch_size, cache)
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = calibrator
    height, width = spec.input_size
    shape = (batch_size, 3, height, width)
    calibration_profile = builder.create_optimization_profile()
    calibration_profile.set_shape(input_name, shape, shape, shape)
    config.set_calibration_profile(calibration_profile)
    return calibrator

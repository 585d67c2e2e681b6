"""What a TensorRT engine is built for, and the cache file that names it.

A serialized engine runs only with the TensorRT version that built it, on the GPU model it was tuned for, at the
precision and batch range it was built with. Every one of those is part of the file name, with the model version
and the builder code's fingerprint, so a restart on the same node loads its engine in milliseconds instead of
rebuilding for minutes, and any change (a driver update bringing a new TensorRT, a different GPU in the node pool,
new weights) builds a new file instead of loading one that no longer fits. Names are readable on purpose (Savant's
lesson): an operator listing the cache sees what each engine was built for.

No TensorRT import here: the naming is checked on machines that cannot install TensorRT.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engines.backends.devices import GpuIdentity
from engines.backends.options import BackendOptions
from engines.export import resolve_cache_dir
from engines.registry import ModelSpec, code_fingerprint

BUILDER_MODULE = "engines.backends.tensorrt_build"
"""Its code decides what an engine contains (flags, profile, calibration): part of every engine's name."""

MIN_IMAGE_SIDE = 12
"""Smallest height or width a fully convolutional model's profile accepts (MTCNN's PNet window)."""

Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class EngineTarget:
    """Everything a compiled engine depends on; two targets that differ name two different files.

    Attributes:
        model_version: ``ModelSpec.version`` (``mobilenet_v2@<12 hex>``).
        tensorrt_version: ``tensorrt.__version__`` of the builder.
        gpu: the device it is built on and for.
        precision: ``fp32``, ``fp16`` or ``int8``.
        max_batch: top of the optimisation profile's batch range (the bottom is 1); 1 for fully convolutional
            models, which run one image (one pyramid scale) at a time.
        max_image_side: for fully convolutional models, the largest height/width of the profile; else ``None``.
        calibration: for INT8, a digest of the calibration images (``engines.backends.calibration``); else ``None``.
        builder: fingerprint of the builder code.
    """

    model_version: str
    tensorrt_version: str
    gpu: GpuIdentity
    precision: str
    max_batch: int
    max_image_side: int | None = None
    calibration: str | None = None
    builder: str = ""

    def __post_init__(self) -> None:
        if "@" not in self.model_version:
            raise ValueError(f"model_version must be 'name@hash', got {self.model_version!r}")
        if self.precision not in ("fp32", "fp16", "int8"):
            raise ValueError(f"precision must be fp32, fp16 or int8, got {self.precision!r}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if (self.precision == "int8") != (self.calibration is not None):
            raise ValueError("a calibration digest belongs to int8 engines, and every int8 engine needs one")

    def file_name(self) -> str:
        """``<model>-<hash>.trt<version>.<gpu>-sm<cc>.<precision>.b<max batch>[.s<side>].<digest>.engine``.

        The trailing digest covers what the readable parts leave out (calibration set, builder code).
        """
        name, _, model_hash = self.model_version.partition("@")
        parts = [f"{name}-{model_hash}", f"trt{self.tensorrt_version}", self.gpu.slug(), self.precision]
        parts.append(f"b{self.max_batch}")
        if self.max_image_side is not None:
            parts.append(f"s{self.max_image_side}")
        digest = hashlib.sha256(repr((self.calibration, self.builder)).encode()).hexdigest()[:8]
        return ".".join([*parts, digest, "engine"])


def engine_target(
    spec: ModelSpec, options: BackendOptions, gpu: GpuIdentity, tensorrt_version: str, calibration: str | None
) -> EngineTarget:
    """The target ``options`` ask for on ``gpu`` (precision ``auto`` means fp16)."""
    return EngineTarget(
        model_version=spec.version,
        tensorrt_version=tensorrt_version,
        gpu=gpu,
        precision=options.gpu_precision(),
        max_batch=profile_shapes(spec, options.max_batch, options.max_image_side)[2][0],
        max_image_side=options.max_image_side if spec.dynamic_size else None,
        calibration=calibration,
        builder=code_fingerprint(BUILDER_MODULE)[:16],
    )


def engine_path(target: EngineTarget, cache_dir: Path | str | None = None) -> Path:
    """Where the engine for ``target`` lives, beside the ONNX exports (whether or not it exists yet)."""
    return resolve_cache_dir(cache_dir) / target.file_name()


def calibration_table_path(target: EngineTarget, cache_dir: Path | str | None = None) -> Path:
    """Where an INT8 target's calibration table lives: per model, TensorRT version and calibration set, not per GPU
    (calibration runs before layer fusion, so its table carries across GPU models)."""
    if target.calibration is None:
        raise ValueError("only int8 targets have a calibration table")
    name, _, model_hash = target.model_version.partition("@")
    file_name = f"{name}-{model_hash}.trt{target.tensorrt_version}.{target.calibration}.calibration"
    return resolve_cache_dir(cache_dir) / file_name


def profile_shapes(spec: ModelSpec, max_batch: int, max_image_side: int) -> tuple[Shape, Shape, Shape]:
    """``(min, opt, max)`` input shapes of the optimisation profile.

    Batch 1..max_batch, tuned for the largest: batches grow with load, and the largest is where throughput matters.
    A fully convolutional model (MTCNN's PNet, run once per pyramid scale, one image at a time) gets free height
    and width from ``MIN_IMAGE_SIDE`` to ``max_image_side``, tuned for half the largest side, and batch 1 only:
    TensorRT reserves memory for the largest shape, and 32 images of 2048x2048 would need gigabytes for a network
    that never sees more than one (the backend splits longer batches).
    """
    if spec.dynamic_size:
        middle = max(MIN_IMAGE_SIDE, max_image_side // 2)
        return (
            (1, 3, MIN_IMAGE_SIDE, MIN_IMAGE_SIDE),
            (1, 3, middle, middle),
            (1, 3, max_image_side, max_image_side),
        )
    height, width = spec.input_size
    return (1, 3, height, width), (max_batch, 3, height, width), (max_batch, 3, height, width)

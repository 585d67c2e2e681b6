"""TensorRT: engine cache names, optimisation profiles and the INT8 calibration set are checked everywhere; building,
reloading and running engines is checked wherever TensorRT 10 imports (it cannot be installed on the CPU machines).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.backends import BackendOptions, create_backend
from engines.backends.calibration import calibration_batch, calibration_digest, calibration_files
from engines.backends.devices import GpuIdentity
from engines.backends.tensorrt_cache import (
    EngineTarget,
    calibration_table_path,
    engine_path,
    engine_target,
    profile_shapes,
)
from engines.errors import EngineError
from engines.preprocess import preprocess_images
from engines.registry import MODELS, ModelSpec
from tests.engines.backends.conftest import NEEDS_TENSORRT, cosines

MOBILENET = MODELS["mobilenet_v2"]
PNET = MODELS["mtcnn_pnet"]
H100 = GpuIdentity(0, "NVIDIA H100 80GB HBM3", (9, 0))
TARGET = EngineTarget("mobilenet_v2@0123456789ab", "10.3.0", H100, "fp16", 32, builder="b" * 16)


def test_an_engine_file_is_named_for_what_it_was_built_for() -> None:
    name = TARGET.file_name()

    assert name.startswith("mobilenet_v2-0123456789ab.trt10.3.0.nvidia-h100-80gb-hbm3-sm90.fp16.b32.")
    assert name.endswith(".engine")


@pytest.mark.parametrize(
    "change",
    [
        {"model_version": "mobilenet_v2@ba9876543210"},
        {"tensorrt_version": "10.4.0"},
        {"gpu": GpuIdentity(0, "NVIDIA L4", (8, 9))},
        {"gpu": GpuIdentity(0, "NVIDIA H100 80GB HBM3", (9, 1))},
        {"precision": "fp32"},
        {"precision": "int8", "calibration": "c" * 16},
        {"max_batch": 64},
        {"max_image_side": 1280},
        {"builder": "d" * 16},
    ],
    ids=["model", "tensorrt", "gpu-model", "compute-capability", "precision", "int8", "max-batch", "side", "builder"],
)
def test_changing_anything_an_engine_depends_on_names_another_file(change: dict) -> None:
    assert dataclasses.replace(TARGET, **change).file_name() != TARGET.file_name()
    assert dataclasses.replace(TARGET).file_name() == TARGET.file_name()


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"model_version": "mobilenet_v2"}, "model_version must be 'name@hash'"),
        ({"precision": "fp8"}, "precision must be fp32, fp16 or int8"),
        ({"max_batch": 0}, "max_batch must be >= 1"),
        ({"precision": "int8"}, "every int8 engine needs one"),
        ({"calibration": "c" * 16}, "a calibration digest belongs to int8 engines"),
    ],
    ids=["no-hash", "precision", "batch", "int8-uncalibrated", "calibrated-fp16"],
)
def test_an_engine_target_is_checked_when_built(change: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        dataclasses.replace(TARGET, **change)


def test_the_target_follows_the_options_and_the_cache_folder(tmp_path: Path) -> None:
    fixed = engine_target(MOBILENET, BackendOptions(max_batch=16), H100, "10.3.0", None)
    dynamic = engine_target(PNET, BackendOptions(max_image_side=1280), H100, "10.3.0", None)

    assert (fixed.precision, fixed.max_batch, fixed.max_image_side) == ("fp16", 16, None)
    assert fixed.model_version == MOBILENET.version
    assert (dynamic.max_image_side, dynamic.max_batch) == (1280, 1)
    assert engine_path(fixed, tmp_path) == tmp_path / fixed.file_name()


def test_a_calibration_table_is_shared_by_gpus_but_not_by_tensorrt_versions(tmp_path: Path) -> None:
    int8 = dataclasses.replace(TARGET, precision="int8", calibration="c" * 16)
    other_gpu = dataclasses.replace(int8, gpu=GpuIdentity(0, "NVIDIA L4", (8, 9)))
    other_tensorrt = dataclasses.replace(int8, tensorrt_version="10.4.0")

    assert calibration_table_path(int8, tmp_path) == calibration_table_path(other_gpu, tmp_path)
    assert calibration_table_path(int8, tmp_path) != calibration_table_path(other_tensorrt, tmp_path)
    with pytest.raises(ValueError, match="only int8 targets"):
        calibration_table_path(TARGET, tmp_path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (MOBILENET, ((1, 3, 224, 224), (32, 3, 224, 224), (32, 3, 224, 224))),
        (MODELS["dlib_resnet128"], ((1, 3, 150, 150), (32, 3, 150, 150), (32, 3, 150, 150))),
        (PNET, ((1, 3, 12, 12), (1, 3, 1024, 1024), (1, 3, 2048, 2048))),
    ],
    ids=["mobilenet", "dlib", "pnet-any-size"],
)
def test_the_profile_spans_batch_1_to_max_or_one_image_of_any_size_for_fully_convolutional_nets(
    spec: ModelSpec, expected: tuple
) -> None:
    assert profile_shapes(spec, 32, 2048) == expected


@pytest.fixture()
def calibration_folder(tmp_path: Path, reference_images: dict[str, np.ndarray]) -> Path:
    for name, image in reference_images.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_the_calibration_set_is_the_folders_images_preprocessed_like_frames(
    calibration_folder: Path, reference_images: dict[str, np.ndarray]
) -> None:
    files = calibration_files(calibration_folder)

    batch = calibration_batch(files, MOBILENET)

    assert [path.name for path in files] == sorted(f"{name}.png" for name in reference_images)
    expected = preprocess_images([reference_images[path.stem] for path in files], MOBILENET)
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-6)


def test_changing_one_calibration_image_changes_the_digest(calibration_folder: Path) -> None:
    before = calibration_digest(calibration_files(calibration_folder))
    path = calibration_folder / "coffee.png"
    image = cv2.imread(str(path))
    image[0, 0] ^= 1
    cv2.imwrite(str(path), image)

    assert calibration_digest(calibration_files(calibration_folder)) != before


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda folder: folder / "missing", "calibration images folder not found"),
        (lambda folder: folder, "no calibration images"),
    ],
    ids=["missing-folder", "empty-folder"],
)
def test_an_unusable_calibration_folder_is_refused(
    tmp_path: Path, make: Callable[[Path], Path], complaint: str
) -> None:
    with pytest.raises(EngineError, match=complaint) as caught:
        calibration_files(make(tmp_path))
    assert caught.value.code == "bad_calibration_set"


def test_a_calibration_file_that_does_not_decode_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    with pytest.raises(EngineError, match=r"broken\.jpg cannot be decoded"):
        calibration_batch(calibration_files(tmp_path), MOBILENET)


@NEEDS_TENSORRT
def test_a_built_engine_is_loaded_from_the_cache_on_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = BackendOptions(max_batch=8)
    first = create_backend("tensorrt", MOBILENET, cache_dir=tmp_path, options=options)
    engines = sorted(tmp_path.glob("*.engine"))
    built_at = engines[0].stat().st_mtime_ns

    with caplog.at_level(logging.INFO, logger="engines.backends.tensorrt"):
        second = create_backend("tensorrt", MOBILENET, cache_dir=tmp_path, options=options)

    assert len(engines) == 1 and engines[0].stat().st_mtime_ns == built_at
    assert "using cached engine" in caplog.text
    batch = np.random.default_rng(0).normal(size=(20, 3, 224, 224)).astype(np.float32)  # > max_batch: split
    assert cosines(first.run(batch), second.run(batch)).min() > 0.9999


@NEEDS_TENSORRT
def test_a_damaged_engine_file_is_refused_as_a_load_failure(tmp_path: Path) -> None:
    from engines.backends.tensorrt import TensorRTBackend

    damaged = tmp_path / "model.engine"
    damaged.write_bytes(b"\x00" * 1024)

    with pytest.raises(EngineError, match=r"cannot load model\.engine") as caught:
        TensorRTBackend(damaged)
    assert caught.value.code == "model_load_failed"


@NEEDS_TENSORRT
def test_an_int8_engine_calibrated_on_real_images_stays_close_to_the_reference(
    tmp_path: Path,
    calibration_folder: Path,
    photo_batch: Callable[[ModelSpec], np.ndarray],
    torch_reference: Callable[[ModelSpec], np.ndarray],
) -> None:
    options = BackendOptions(precision="int8", calibration_images=calibration_folder, max_batch=8)

    backend = create_backend("tensorrt", MOBILENET, cache_dir=tmp_path / "cache", options=options)

    assert cosines(backend.run(photo_batch(MOBILENET)), torch_reference(MOBILENET)).min() >= 0.95
    assert list((tmp_path / "cache").glob("*.calibration"))


@NEEDS_TENSORRT
@pytest.mark.parametrize(("height", "width"), [(12, 12), (240, 320)])
def test_a_fully_convolutional_engine_takes_any_image_size(tmp_path: Path, height: int, width: int) -> None:
    engine = create_backend("tensorrt", PNET, cache_dir=tmp_path, options=BackendOptions(precision="fp32"))
    onnx = create_backend("onnxruntime", PNET, cache_dir=tmp_path, threads=2)
    image = np.random.default_rng(1).uniform(-1, 1, size=(1, 3, height, width)).astype(np.float32)

    np.testing.assert_allclose(engine.run(image), onnx.run(image), rtol=0, atol=1e-3)

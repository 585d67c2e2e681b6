"""The backend table: every name builds or is refused with its reason; ``auto`` ranks tensorrt > torch-CUDA > ONNX
Runtime and logs why; options are checked when built."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from engines.backends import BACKENDS, BackendOptions, backend_unavailable_reason, create_backend, resolve_backend_name
from engines.backends.devices import GpuIdentity
from engines.backends.inputs import split_batch, warm_up_batch
from engines.errors import EngineError
from engines.registry import MODELS
from engines.scene import SceneEmbedder

MOBILENET = MODELS["mobilenet_v2"]


def _auto_should_pick() -> str:
    """Worked out from the machine directly (not from the code under test): GPU + TensorRT, GPU, or neither."""
    import torch

    if not torch.cuda.is_available():
        return "onnxruntime"
    return "tensorrt" if importlib.util.find_spec("tensorrt") is not None else "torch"


TENSORRT_MISSING = backend_unavailable_reason("tensorrt")


@pytest.mark.parametrize(
    ("name", "expected_name", "error_code"),
    [
        ("onnxruntime", "onnxruntime", None),
        ("torch", "torch", None),
        ("auto", _auto_should_pick(), None),
        ("tensorrt", None if TENSORRT_MISSING else "tensorrt", "backend_unavailable" if TENSORRT_MISSING else None),
        ("openvino", None, "unknown_backend"),
    ],
)
def test_create_backend_builds_known_backends_and_refuses_the_rest_by_name(
    scene_embedder: SceneEmbedder, model_cache_dir: Path, name: str, expected_name: str | None, error_code: str | None
) -> None:
    if error_code is not None:
        with pytest.raises(EngineError, match=repr(name)) as caught:
            create_backend(name, MOBILENET, cache_dir=model_cache_dir, threads=1)
        assert caught.value.code == error_code
        return
    backend = create_backend(name, MOBILENET, cache_dir=model_cache_dir, threads=1)
    assert backend.name == expected_name
    assert backend.run(np.zeros((2, 3, 224, 224), np.float32)).shape == (2, 1280)


def test_auto_picks_the_best_backend_this_machine_runs_and_says_why_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger="engines.backends"):
        chosen = resolve_backend_name("auto")

    assert chosen == _auto_should_pick()
    assert chosen in BACKENDS
    line = next(record.getMessage() for record in caplog.records if "'auto' ->" in record.getMessage())
    assert line.startswith(f"backend 'auto' -> '{chosen}' (") and line.endswith(")")
    if chosen == "onnxruntime":
        assert "CPU only:" in line


@pytest.mark.skipif(TENSORRT_MISSING is None, reason="TensorRT is usable here")
def test_an_unusable_tensorrt_is_refused_with_the_reason(model_cache_dir: Path) -> None:
    expected = re.escape(f"backend 'tensorrt' is not available: {TENSORRT_MISSING}")
    with pytest.raises(EngineError, match=expected) as caught:
        create_backend("tensorrt", MOBILENET, cache_dir=model_cache_dir)
    assert caught.value.code == "backend_unavailable"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"threads": -1}, "threads must be >= 0"),
        ({"precision": "fp8"}, "precision must be one of auto, fp32, fp16, int8, got 'fp8'"),
        ({"max_batch": 0}, "max_batch must be within 1..1024, got 0"),
        ({"max_batch": 4096}, "max_batch must be within 1..1024, got 4096"),
        ({"precision": "int8"}, "precision 'int8' needs calibration_images"),
        ({"workspace_mib": 1}, "workspace_mib must be >= 64"),
        ({"max_image_side": 8}, "max_image_side must be >= 12"),
    ],
    ids=["threads", "precision", "batch-zero", "batch-huge", "int8-no-images", "workspace", "image-side"],
)
def test_backend_options_are_checked_when_built(options: dict, complaint: str) -> None:
    with pytest.raises(EngineError, match=complaint) as caught:
        BackendOptions(**options)
    assert caught.value.code == "bad_backend_option"


@pytest.mark.parametrize(
    ("precision", "on_gpu"), [("auto", "fp16"), ("fp32", "fp32"), ("fp16", "fp16")], ids=["auto", "fp32", "fp16"]
)
def test_auto_precision_means_fp16_on_a_gpu(precision: str, on_gpu: str) -> None:
    assert BackendOptions(precision=precision).gpu_precision() == on_gpu  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "capability", "slug"),
    [
        ("NVIDIA H100 80GB HBM3", (9, 0), "nvidia-h100-80gb-hbm3-sm90"),
        ("NVIDIA GeForce RTX 4090", (8, 9), "nvidia-geforce-rtx-4090-sm89"),
        ("Tesla T4", (7, 5), "tesla-t4-sm75"),
    ],
)
def test_a_gpu_is_named_in_file_names_by_model_and_compute_capability(
    name: str, capability: tuple[int, int], slug: str
) -> None:
    assert GpuIdentity(0, name, capability).slug() == slug


@pytest.mark.parametrize(("count", "lengths"), [(0, [0]), (1, [1]), (32, [32]), (33, [32, 1]), (70, [32, 32, 6])])
def test_long_batches_are_split_into_consecutive_pieces_of_at_most_max_batch(count: int, lengths: list[int]) -> None:
    batch = np.arange(count, dtype=np.float32).reshape(count, 1)

    pieces = split_batch(batch, 32)

    assert [len(piece) for piece in pieces] == lengths
    np.testing.assert_array_equal(np.concatenate(pieces), batch)


def test_warm_up_gives_free_image_axes_a_size_any_small_network_accepts() -> None:
    assert warm_up_batch((3, None, "width"), batch_size=2).shape == (2, 3, 64, 64)
    assert warm_up_batch((3, 224, 224)).shape == (1, 3, 224, 224)

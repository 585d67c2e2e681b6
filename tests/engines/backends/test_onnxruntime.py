"""The ONNX Runtime backend runs real exports; it reads its input shape from the model and refuses bad batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.errors import EngineError
from engines.export import exported_model_path
from engines.registry import MODELS
from engines.scene import SceneEmbedder

MOBILENET = MODELS["mobilenet_v2"]


@pytest.fixture(scope="module")
def onnx_backend(scene_embedder: SceneEmbedder, model_cache_dir: Path) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(exported_model_path(MOBILENET, model_cache_dir), threads=2)


def test_the_onnxruntime_backend_reads_its_input_shape_from_the_model(onnx_backend: OnnxRuntimeBackend) -> None:
    assert onnx_backend.name == "onnxruntime"
    assert onnx_backend.input_shape == (3, 224, 224)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_the_onnxruntime_backend_returns_one_row_per_item(onnx_backend: OnnxRuntimeBackend, batch_size: int) -> None:
    batch = np.random.default_rng(batch_size).normal(size=(batch_size, 3, 224, 224)).astype(np.float32)

    out = onnx_backend.run(batch)

    assert out.shape == (batch_size, 1280)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


def test_the_onnxruntime_backend_accepts_a_non_contiguous_batch_and_gives_the_contiguous_result(
    onnx_backend: OnnxRuntimeBackend,
) -> None:
    batch = np.random.default_rng(7).normal(size=(4, 3, 224, 224)).astype(np.float32)
    every_other = batch[::2]

    np.testing.assert_allclose(
        onnx_backend.run(every_other), onnx_backend.run(np.ascontiguousarray(every_other)), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize(
    ("batch", "complaint"),
    [
        (np.zeros((1, 3, 224, 224), np.float64), "float32 NCHW batch, got float64"),
        (np.zeros((1, 224, 224, 3), np.float32), r"\(N, 3, 224, 224\), got \(1, 224, 224, 3\)"),
        (np.zeros((3, 224, 224), np.float32), r"\(N, 3, 224, 224\), got \(3, 224, 224\)"),
        (np.zeros((2, 3, 112, 112), np.float32), r"got \(2, 3, 112, 112\)"),
        ([[0.0]], "got list"),
    ],
    ids=["float64", "nhwc", "no-batch-axis", "wrong-size", "not-an-array"],
)
def test_the_onnxruntime_backend_refuses_a_malformed_batch_naming_expected_and_got(
    onnx_backend: OnnxRuntimeBackend, batch: np.ndarray, complaint: str
) -> None:
    with pytest.raises(EngineError, match=complaint) as caught:
        onnx_backend.run(batch)
    assert caught.value.code == "bad_batch"


@pytest.mark.parametrize(
    "content", [None, b"", b"definitely not a protobuf \x00\xff"], ids=["missing", "empty", "garbage"]
)
def test_a_missing_or_corrupt_model_file_is_an_engine_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(EngineError, match="cannot load ONNX model") as caught:
        OnnxRuntimeBackend(path)
    assert caught.value.code == "model_load_failed"


def test_a_negative_thread_count_is_refused(scene_embedder: SceneEmbedder, model_cache_dir: Path) -> None:
    with pytest.raises(EngineError, match="threads must be >= 0"):
        OnnxRuntimeBackend(exported_model_path(MOBILENET, model_cache_dir), threads=-1)

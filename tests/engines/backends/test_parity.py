"""Parity: every backend's embeddings match the PyTorch fp32 reference on real photos.

Cosine >= 0.999 where a backend computes in fp32 and >= 0.99 in fp16, per image, for every embedding model in the
registry. The CPU rows run everywhere; the CUDA and TensorRT rows run where those exist and skip with the reason
elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engines.backends import BackendOptions, InferenceBackend, create_backend
from engines.backends.torch import load_torch_backend
from engines.registry import MODELS, ModelSpec
from tests.engines.backends.conftest import EMBEDDING_MODELS, NEEDS_CUDA, NEEDS_TENSORRT, cosines

FP32_FLOOR = 0.999
FP16_FLOOR = 0.99


@dataclass(frozen=True)
class Setup:
    """One way of running a model: backend, device, options, and the cosine floor its precision must reach."""

    backend: str
    options: BackendOptions
    floor: float
    device: str | None = None

    def build(self, spec: ModelSpec, cache_dir: Path) -> InferenceBackend:
        if self.backend == "torch":
            return load_torch_backend(spec, self.options, device=self.device)
        return create_backend(self.backend, spec, cache_dir=cache_dir, options=self.options)


SETUPS = [
    pytest.param(Setup("onnxruntime", BackendOptions(threads=2), FP32_FLOOR), id="onnxruntime"),
    pytest.param(Setup("torch", BackendOptions(threads=2), FP32_FLOOR, "cpu"), id="torch-cpu-fp32"),
    pytest.param(
        Setup("torch", BackendOptions(precision="fp32"), FP32_FLOOR, "cuda"), id="torch-cuda-fp32", marks=NEEDS_CUDA
    ),
    pytest.param(
        Setup("torch", BackendOptions(precision="fp16"), FP16_FLOOR, "cuda"), id="torch-cuda-fp16", marks=NEEDS_CUDA
    ),
    pytest.param(
        Setup("torch", BackendOptions(precision="fp16", cuda_graphs=True), FP16_FLOOR, "cuda"),
        id="torch-cuda-fp16-graphs",
        marks=NEEDS_CUDA,
    ),
    pytest.param(
        Setup("tensorrt", BackendOptions(precision="fp32"), FP32_FLOOR), id="tensorrt-fp32", marks=NEEDS_TENSORRT
    ),
    pytest.param(
        Setup("tensorrt", BackendOptions(precision="fp16"), FP16_FLOOR), id="tensorrt-fp16", marks=NEEDS_TENSORRT
    ),
]


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
@pytest.mark.parametrize("setup", SETUPS)
def test_every_backend_matches_the_pytorch_fp32_reference_on_real_photos(
    setup: Setup,
    model: str,
    model_cache_dir: Path,
    photo_batch: Callable[[ModelSpec], np.ndarray],
    torch_reference: Callable[[ModelSpec], np.ndarray],
) -> None:
    spec = MODELS[model]
    backend = setup.build(spec, model_cache_dir)

    out = backend.run(photo_batch(spec))

    assert out.shape == torch_reference(spec).shape and out.dtype == np.float32
    similarity = cosines(out, torch_reference(spec))
    assert similarity.min() >= setup.floor, f"{backend.name} {model}: cosines {np.round(similarity, 5)}"
    if setup.floor == FP32_FLOOR:  # fp32 computes the same sums in another order: float rounding only
        np.testing.assert_allclose(out, torch_reference(spec), rtol=0, atol=1e-3 * np.abs(torch_reference(spec)).max())


def test_different_photos_score_well_below_the_floors_so_parity_is_not_trivial(
    photo_batch: Callable[[ModelSpec], np.ndarray], torch_reference: Callable[[ModelSpec], np.ndarray]
) -> None:
    """dlib's descriptors are not centred (different faces sit near cosine 0.9), so the margin is checked per model:
    different photos must stay at least 3x further from 1 than the fp16 floor allows."""
    for model in EMBEDDING_MODELS:
        reference = torch_reference(MODELS[model])
        first, others = reference[:1], reference[1:4]
        assert cosines(np.repeat(first, len(others), axis=0), others).max() < 1 - 3 * (1 - FP16_FLOOR), model

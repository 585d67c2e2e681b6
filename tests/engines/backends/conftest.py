"""Backend fixtures: real photos prepared for each model, and the PyTorch fp32 reference every backend must match.

The reference is the registry's own network (``ModelSpec.network``: the code and weights the ONNX export traces),
run eagerly in fp32 on the CPU, built once per model per session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engines.backends.devices import cuda_unavailable_reason, tensorrt_unavailable_reason
from engines.preprocess import preprocess_images
from engines.registry import MODELS, ModelSpec

EMBEDDING_MODELS = tuple(name for name, spec in MODELS.items() if spec.kind in ("scene", "face_embedder"))
"""The models whose outputs are embeddings (compared by cosine); MTCNN's stages output boxes and scores."""

NEEDS_CUDA = pytest.mark.skipif(
    cuda_unavailable_reason() is not None, reason=f"needs CUDA: {cuda_unavailable_reason()}"
)
NEEDS_TENSORRT = pytest.mark.skipif(
    tensorrt_unavailable_reason() is not None, reason=f"needs TensorRT 10: {tensorrt_unavailable_reason()}"
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` arrays (outputs flattened per item first)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="session")
def photo_batch(reference_images: dict[str, np.ndarray]) -> Callable[[ModelSpec], np.ndarray]:
    """``spec -> (N, 3, H, W)`` float32: the real photos plus crops of them, preprocessed for that model."""
    photos = list(reference_images.values())
    crops = [photos[0][60:300, 140:380], photos[1][100:400, 150:450], photos[3][:, :320]]
    cache: dict[str, np.ndarray] = {}

    def batch(spec: ModelSpec) -> np.ndarray:
        if spec.name not in cache:
            cache[spec.name] = preprocess_images([*photos, *crops], spec)
        return cache[spec.name]

    return batch


@pytest.fixture(scope="session")
def torch_reference(photo_batch: Callable[[ModelSpec], np.ndarray]) -> Callable[[ModelSpec], np.ndarray]:
    """``spec -> outputs`` of the registry network in fp32 eager PyTorch on ``photo_batch(spec)``."""
    import torch

    from engines.export import _build_network

    cache: dict[str, np.ndarray] = {}

    def reference(spec: ModelSpec) -> np.ndarray:
        if spec.name not in cache:
            network = _build_network(spec).eval()
            with torch.inference_mode():
                cache[spec.name] = network(torch.from_numpy(photo_batch(spec).copy())).numpy()
        return cache[spec.name]

    return reference

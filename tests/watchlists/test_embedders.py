"""The API and CLI load each kind's model with the config's backend options, as the service does."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.backends.devices import cuda_available
from engines.errors import EngineError
from streamer.config import ModelsConfig
from watchlists.embedders import KindEmbedders


def test_the_configs_max_batch_bounds_the_batches_of_both_kinds_models(model_cache_dir: Path) -> None:
    models = ModelsConfig(backend="onnxruntime", cache_dir=model_cache_dir, threads=2, max_batch=3)

    embedders = KindEmbedders.from_models(models)

    assert embedders.for_kind("anomaly").loaded.max_batch == 3
    assert embedders.for_kind("face").loaded.embedder.max_batch == 3


@pytest.mark.skipif(cuda_available(), reason="fp16 runs on a CUDA GPU; the refusal to check happens on the CPU only")
def test_the_configs_precision_reaches_the_backend(model_cache_dir: Path) -> None:
    pytest.importorskip("torch")
    models = ModelsConfig(backend="torch", cache_dir=model_cache_dir, threads=2, precision="fp16")

    embedders = KindEmbedders.from_models(models)

    with pytest.raises(EngineError, match="precision 'fp16' needs a CUDA GPU") as caught:
        embedders.for_kind("anomaly").loaded  # noqa: B018  (loading is the point)
    assert caught.value.code == "bad_backend_option"

"""The torch backend: the registry's network on the CPU here (fp32), on CUDA where a GPU is (fp16, channels-last,
CUDA graphs); long batches split, fully convolutional nets take any image size, impossible precisions refused."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engines.backends import BackendOptions
from engines.backends.devices import cuda_available
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.backends.torch import TorchBackend, load_torch_backend
from engines.backends.torch_graphs import bucket_sizes
from engines.errors import EngineError
from engines.export import export_model
from engines.registry import MODELS, ModelSpec
from tests.engines.backends.conftest import NEEDS_CUDA, cosines

MOBILENET = MODELS["mobilenet_v2"]


@pytest.fixture(scope="module")
def cpu_mobilenet() -> TorchBackend:
    """max_batch 4, so that the photo batch (7 images) runs in pieces."""
    return load_torch_backend(MOBILENET, BackendOptions(threads=2, max_batch=4), device="cpu")


def test_the_torch_backend_names_itself_and_runs_fp32_on_the_cpu(cpu_mobilenet: TorchBackend) -> None:
    assert (cpu_mobilenet.name, cpu_mobilenet.precision, cpu_mobilenet.device.type) == ("torch", "fp32", "cpu")
    assert cpu_mobilenet.input_shape == (3, 224, 224)


def test_a_batch_longer_than_max_batch_gives_the_rows_of_one_reference_call(
    cpu_mobilenet: TorchBackend,
    photo_batch: Callable[[ModelSpec], np.ndarray],
    torch_reference: Callable[[ModelSpec], np.ndarray],
) -> None:
    batch = photo_batch(MOBILENET)
    assert len(batch) > cpu_mobilenet.max_batch

    out = cpu_mobilenet.run(batch)

    assert out.shape == (len(batch), 1280) and out.dtype == np.float32
    np.testing.assert_allclose(out, torch_reference(MOBILENET), rtol=0, atol=1e-4)


def test_a_read_only_batch_runs_without_a_warning(
    cpu_mobilenet: TorchBackend, photo_batch: Callable[[ModelSpec], np.ndarray]
) -> None:
    batch = photo_batch(MOBILENET)[:2].copy()
    batch.setflags(write=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = cpu_mobilenet.run(batch)

    assert out.shape == (2, 1280)


def test_a_malformed_batch_is_refused_naming_expected_and_got(cpu_mobilenet: TorchBackend) -> None:
    with pytest.raises(EngineError, match=r"expected a batch of shape \(N, 3, 224, 224\), got \(1, 3, 112, 112\)"):
        cpu_mobilenet.run(np.zeros((1, 3, 112, 112), np.float32))


@pytest.mark.parametrize(("height", "width"), [(12, 12), (100, 80), (333, 517)])
def test_a_fully_convolutional_net_takes_any_image_size_like_its_onnx_export(
    model_cache_dir: Path, height: int, width: int
) -> None:
    pnet = MODELS["mtcnn_pnet"]
    ours = load_torch_backend(pnet, BackendOptions(threads=2), device="cpu")
    onnx = OnnxRuntimeBackend(export_model(pnet, model_cache_dir, show_progress=False), threads=2)
    image = np.random.default_rng(height).uniform(-1, 1, size=(1, 3, height, width)).astype(np.float32)

    out = ours.run(image)

    assert ours.input_shape == (3, None, None)
    assert out.shape == onnx.run(image).shape
    np.testing.assert_allclose(out, onnx.run(image), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "device", "code", "complaint"),
    [
        ({"precision": "fp16"}, "cpu", "bad_backend_option", "'fp16' needs a CUDA GPU"),
        ({"precision": "int8", "calibration_images": Path(".")}, "cpu", "bad_backend_option", "needs the tensorrt"),
        pytest.param(
            {},
            "cuda",
            "backend_unavailable",
            "torch backend on cuda",
            marks=pytest.mark.skipif(cuda_available(), reason="CUDA is usable here"),
        ),
    ],
    ids=["fp16-on-cpu", "int8", "cuda-without-gpu"],
)
def test_a_precision_or_device_this_machine_cannot_run_is_refused(
    options: dict, device: str, code: str, complaint: str
) -> None:
    with pytest.raises(EngineError, match=complaint) as caught:
        load_torch_backend(MODELS["mtcnn_rnet"], BackendOptions(**options), device=device)
    assert caught.value.code == code


def test_cuda_graphs_are_ignored_with_a_warning_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="engines.backends.torch"):
        backend = load_torch_backend(MODELS["mtcnn_rnet"], BackendOptions(cuda_graphs=True), device="cpu")

    assert backend.run(np.zeros((3, 3, 24, 24), np.float32)).shape == (3, 5)
    assert "cuda_graphs ignored for mtcnn_rnet: they need a CUDA device" in caplog.text


def test_a_compiled_network_gives_the_eager_networks_outputs() -> None:
    """torch.compile on the smallest registry net (RNet): ~30 s on a fresh machine, seconds once Inductor cached."""
    rnet = MODELS["mtcnn_rnet"]
    crops = np.random.default_rng(3).uniform(-1, 1, size=(6, 3, 24, 24)).astype(np.float32)
    eager = load_torch_backend(rnet, BackendOptions(threads=2), device="cpu")

    compiled = load_torch_backend(rnet, BackendOptions(threads=2, torch_compile=True), device="cpu")

    np.testing.assert_allclose(compiled.run(crops), eager.run(crops), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("max_batch", "sizes"),
    [(1, [1]), (2, [1, 2]), (8, [1, 2, 4, 8]), (24, [1, 2, 4, 8, 16, 24]), (32, [1, 2, 4, 8, 16, 32])],
)
def test_cuda_graph_buckets_are_powers_of_two_up_to_max_batch(max_batch: int, sizes: list[int]) -> None:
    assert bucket_sizes(max_batch) == sizes


@NEEDS_CUDA
@pytest.mark.parametrize("count", [1, 3, 16, 40])
def test_cuda_graph_replays_give_the_eager_fp16_outputs_for_any_batch_length(
    photo_batch: Callable[[ModelSpec], np.ndarray], count: int
) -> None:
    images = photo_batch(MOBILENET)
    batch = images[np.arange(count) % len(images)]
    eager = load_torch_backend(MOBILENET, BackendOptions(max_batch=16), device="cuda")
    graphs = load_torch_backend(MOBILENET, BackendOptions(max_batch=16, cuda_graphs=True), device="cuda")

    replayed = graphs.run(batch)

    assert replayed.shape == (count, 1280) and replayed.dtype == np.float32
    assert cosines(replayed, eager.run(batch)).min() >= 0.9999

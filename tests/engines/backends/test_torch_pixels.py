"""The torch backend's uint8 pixel input (normalised on the device) and its fp32 that means fp32 (TF32 off).

On the CPU the pixel path runs the same torch arithmetic the GPU runs, without pinning or streams, so the parity
checked here is the arithmetic; the CUDA tests add the pinned, double-buffered upload and run where a GPU is.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch

from engines.backends import BackendOptions
from engines.backends.torch import TorchBackend, load_torch_backend
from engines.backends.torch_pixels import DevicePixelInput
from engines.errors import EngineError
from engines.preprocess import normalise_pixels
from engines.registry import MODELS
from tests.engines.backends.conftest import NEEDS_CUDA, cosines

MOBILENET = MODELS["mobilenet_v2"]


@pytest.fixture(scope="module")
def pixels(reference_images: dict[str, np.ndarray]) -> np.ndarray:
    """(7, 224, 224, 3) uint8: the real photos and two crops, resized to MobileNetV2's input."""
    photos = list(reference_images.values())
    images = [*photos, photos[0][60:300, 140:380], photos[1][100:400, 150:450]]
    return np.stack(
        [cv2.resize(np.ascontiguousarray(image), (224, 224), interpolation=cv2.INTER_AREA) for image in images]
    )


@pytest.fixture(scope="module")
def cpu_mobilenet() -> TorchBackend:
    """max_batch 4, so that the 7 pixel images run in two pieces."""
    return load_torch_backend(MOBILENET, BackendOptions(threads=2, max_batch=4), device="cpu")


def test_device_normalisation_is_bit_identical_to_the_numpy_preprocessing(pixels: np.ndarray) -> None:
    to_input = DevicePixelInput(MOBILENET, torch.device("cpu"), torch.float32, torch.contiguous_format, 8)

    with torch.inference_mode():
        on_device = to_input(pixels).numpy()

    np.testing.assert_array_equal(on_device, normalise_pixels(pixels, MOBILENET))


def test_pixels_give_the_outputs_of_the_float_batch_they_normalise_to(
    cpu_mobilenet: TorchBackend, pixels: np.ndarray
) -> None:
    assert len(pixels) > cpu_mobilenet.max_batch

    out = cpu_mobilenet.run_pixels(pixels)

    assert out.shape == (len(pixels), 1280) and out.dtype == np.float32
    np.testing.assert_array_equal(out, cpu_mobilenet.run(normalise_pixels(pixels, MOBILENET)))


def test_read_only_pixels_are_accepted(cpu_mobilenet: TorchBackend, pixels: np.ndarray) -> None:
    frozen = pixels[:2].copy()
    frozen.setflags(write=False)

    assert cpu_mobilenet.run_pixels(frozen).shape == (2, 1280)


@pytest.mark.parametrize(
    ("batch", "complaint"),
    [
        (np.zeros((1, 224, 224, 3), np.float32), "expected a uint8 NHWC pixel batch, got float32"),
        (np.zeros((1, 3, 224, 224), np.uint8), r"expected pixels of shape \(N, 224, 224, 3\), got \(1, 3, 224, 224\)"),
        (np.zeros((224, 224, 3), np.uint8), r"got \(224, 224, 3\)"),
    ],
    ids=["float32", "nchw", "no-batch-axis"],
)
def test_malformed_pixels_are_refused_naming_expected_and_got(
    cpu_mobilenet: TorchBackend, batch: np.ndarray, complaint: str
) -> None:
    with pytest.raises(EngineError, match=complaint) as caught:
        cpu_mobilenet.run_pixels(batch)
    assert caught.value.code == "bad_batch"


def test_a_model_of_any_input_size_refuses_pixel_input() -> None:
    pnet = load_torch_backend(MODELS["mtcnn_pnet"], BackendOptions(threads=1), device="cpu")

    with pytest.raises(EngineError, match="mtcnn_pnet takes any image size"):
        pnet.run_pixels(np.zeros((1, 12, 12, 3), np.uint8))


def test_fp32_turns_tf32_off_for_convolutions_and_matrix_products() -> None:
    saved = (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    try:
        load_torch_backend(MODELS["mtcnn_rnet"], BackendOptions(precision="fp32", threads=1), device="cpu")

        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


@NEEDS_CUDA
@pytest.mark.parametrize(("precision", "floor"), [("fp32", 0.99999), ("fp16", 0.999)])
def test_pixels_uploaded_to_the_gpu_match_the_cpu_float_path(
    cpu_mobilenet: TorchBackend, pixels: np.ndarray, precision: str, floor: float
) -> None:
    gpu = load_torch_backend(MOBILENET, BackendOptions(precision=precision, max_batch=4), device="cuda")

    out = gpu.run_pixels(pixels)

    assert cosines(out, cpu_mobilenet.run(normalise_pixels(pixels, MOBILENET))).min() >= floor


@NEEDS_CUDA
def test_concurrent_pixel_batches_through_both_pinned_buffers_each_get_their_own_outputs(pixels: np.ndarray) -> None:
    """Many uploads in flight at once: a buffer reused too early would hand one batch another's pixels."""
    gpu = load_torch_backend(MOBILENET, BackendOptions(precision="fp16", max_batch=8, cuda_graphs=True), device="cuda")
    batches = [np.roll(pixels, shift, axis=0) for shift in range(len(pixels))] * 4
    expected = [gpu.run(normalise_pixels(batch, MOBILENET)) for batch in batches]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(gpu.run_pixels, batches))

    for want, out in zip(expected, got, strict=True):
        assert cosines(out, want).min() >= 0.9999

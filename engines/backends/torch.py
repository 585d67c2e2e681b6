"""PyTorch: the network built straight from its registry entry, on the CPU or a CUDA GPU.

The network comes from the same ``ModelSpec.network`` function, weights file and code that the ONNX export traces,
so the torch backend needs no export and its numbers are the reference every other backend is tested against.

On a GPU it runs fp16 (``precision: auto``) with channels-last tensors, the layout tensor-core convolutions read
without transposing; optionally as replayed CUDA graphs (``cuda_graphs``: removes per-kernel launch overhead, which
dominates small batches of a small network such as MobileNetV2) or compiled (``torch_compile``). On the CPU it runs
fp32 eager, which is slower than ONNX Runtime's fused graph: there it is a reference and a fallback, not the choice
of ``auto``. ``fp32`` turns TF32 off (``use_ieee_fp32``), so fp32 on CUDA matches the CPU reference. ``run_pixels``
takes uint8 NHWC pixels and normalises them on the device (``engines.backends.torch_pixels``). On the CPU it
also suffers more from a busy CPU: its OpenMP threads meet at a barrier after every layer, so one descheduled
thread stalls the others (MobileNetV2 at batch 8 on a loaded 2-core machine: ~9 images/s on 2 threads,
~24 on 1; ONNX Runtime ~55 on 2).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import nn

from engines.backends.devices import cuda_available, cuda_unavailable_reason
from engines.backends.inputs import ItemShape, check_batch, split_batch, warm_up_batch
from engines.backends.options import BackendOptions
from engines.backends.torch_graphs import CudaGraphRunner
from engines.backends.torch_pixels import DevicePixelInput, check_pixels
from engines.errors import EngineError
from engines.registry import ModelSpec

log = logging.getLogger(__name__)


class TorchBackend:
    """Runs one PyTorch network on a device.

    Thread-safe: eager and compiled forwards run concurrently under ``inference_mode``; CUDA graph replays (which
    share static buffers) are serialised by the graph runner.

    Args:
        network: the network, in eval mode, on the CPU (``load_torch_backend`` builds it from the registry).
        spec: the model it implements (input size, dynamic size).
        options: precision, ``max_batch``, ``cuda_graphs``, ``torch_compile``, ``threads`` (CPU).
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when usable, else the CPU.

    Raises:
        EngineError: ``bad_backend_option`` for a precision the device cannot run (fp16 on the CPU, int8 anywhere),
            ``backend_unavailable`` when CUDA is asked for and not usable.
    """

    name = "torch"

    def __init__(
        self, network: nn.Module, spec: ModelSpec, options: BackendOptions | None = None, *, device: str | None = None
    ) -> None:
        options = options or BackendOptions()
        self.device = torch.device(device or ("cuda" if cuda_available() else "cpu"))
        on_gpu = self.device.type == "cuda"
        if on_gpu and not cuda_available():
            raise EngineError(
                f"torch backend on {self.device}: {cuda_unavailable_reason()}", code="backend_unavailable"
            )
        self.precision = _precision(options, on_gpu)
        self.max_batch = options.max_batch
        self.input_shape: ItemShape = (3, None, None) if spec.dynamic_size else (3, *spec.input_size)
        if options.threads and not on_gpu:
            torch.set_num_threads(options.threads)  # process-wide: torch has no per-module thread pool
        if self.precision == "fp32":
            use_ieee_fp32()
        self._dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self._layout = torch.channels_last if on_gpu else torch.contiguous_format
        network = network.eval().requires_grad_(False)
        network = network.to(device=self.device, dtype=self._dtype, memory_format=self._layout)
        # dynamic=None: the first batch of a new size recompiles once with a free batch axis, not once per size.
        dynamic = True if spec.dynamic_size else None
        self._forward = torch.compile(network, dynamic=dynamic) if options.torch_compile else network
        self._graphs = self._capture_graphs(spec, options, on_gpu)
        self._spec_name = spec.name
        self._pixels = (
            None
            if spec.dynamic_size
            else DevicePixelInput(spec, self.device, self._dtype, self._layout, self.max_batch)
        )
        started = time.monotonic()
        self.run(warm_up_batch(self.input_shape, self.max_batch if on_gpu and not spec.dynamic_size else 1))
        log.info(
            "torch: %s on %s, %s%s%s, warm-up %.1f s",
            spec.name,
            self.device,
            self.precision,
            ", CUDA graphs" if self._graphs else "",
            ", compiled" if options.torch_compile else "",
            time.monotonic() - started,
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run an NCHW float32 batch; return float32 outputs, one row per item, whatever precision ran inside.

        Batches longer than ``max_batch`` run in consecutive pieces.

        Raises:
            EngineError: ``bad_batch`` when the batch's dtype or per-item shape is not what the model takes.
        """
        checked = check_batch(batch, self.input_shape)
        with torch.inference_mode():
            outputs = [self._run_piece(piece) for piece in split_batch(checked, self.max_batch)]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Run a ``(N, H, W, 3)`` uint8 RGB batch already at the input size, normalised on the device.

        The same outputs as ``run(normalise_pixels(pixels, spec))``, for a quarter of the bytes over PCIe and no
        float32 work on the host (``engines.backends.torch_pixels``). Resizing stays with the caller.

        Raises:
            EngineError: ``bad_batch`` for a model without a fixed input size, or pixels of another dtype or shape.
        """
        if self._pixels is None:
            raise EngineError(
                f"{self._spec_name} takes any image size; pixel input needs a fixed one", code="bad_batch"
            )
        checked = check_pixels(pixels, self._pixels.size)
        with torch.inference_mode():
            outputs = [self._on_device(self._pixels(piece)) for piece in split_batch(checked, self.max_batch)]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def _run_piece(self, piece: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(piece if piece.flags.writeable else piece.copy())
        if self.device.type == "cpu":
            return self._forward(tensor).numpy()
        return self._on_device(tensor.to(self.device).to(self._dtype).contiguous(memory_format=self._layout))

    def _on_device(self, tensor: torch.Tensor) -> np.ndarray:
        out = self._graphs.run(tensor) if self._graphs is not None else self._forward(tensor)
        return out.float().cpu().numpy()

    def _capture_graphs(self, spec: ModelSpec, options: BackendOptions, on_gpu: bool) -> CudaGraphRunner | None:
        if not options.cuda_graphs:
            return None
        if not on_gpu or spec.dynamic_size:
            why = "they need a CUDA device" if not on_gpu else "they need a fixed input size"
            log.warning("torch: cuda_graphs ignored for %s: %s", spec.name, why)
            return None
        item = (3, *spec.input_size)
        return CudaGraphRunner(self._forward, item, self._dtype, self._layout, self.device, self.max_batch)


def _precision(options: BackendOptions, on_gpu: bool) -> str:
    if options.precision == "int8":
        raise EngineError("precision 'int8' needs the tensorrt backend", code="bad_backend_option")
    if on_gpu:
        return options.gpu_precision()
    if options.precision == "fp16":
        raise EngineError(
            "precision 'fp16' needs a CUDA GPU; the torch backend runs fp32 on the CPU", code="bad_backend_option"
        )
    return "fp32"


def use_ieee_fp32() -> None:
    """Make "fp32" mean fp32 on CUDA: turn off TF32 for convolutions and matrix products, process-wide.

    PyTorch lets cuDNN run fp32 convolutions as TF32 (10-bit mantissa) by default: on an H200 that put MobileNetV2
    6.9e-3 away from the CPU reference, failing the fp32 parity floor; with TF32 off it was 6.9e-6. The flags are
    global (torch has no per-module setting); fp16 networks do not read them, so an fp16 backend in the same process
    is unaffected. Harmless on the CPU, where TF32 does not exist.
    """
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def load_torch_backend(
    spec: ModelSpec, options: BackendOptions | None = None, *, device: str | None = None
) -> TorchBackend:
    """Build ``spec``'s network from the registry (same weights and code as its ONNX export) and wrap it.

    Raises:
        EngineError: ``export_failed`` when the network cannot be built (torch or torchvision missing, weights that
            do not fit), ``weights_missing``, plus ``TorchBackend``'s errors.
    """
    from engines.export import _build_network  # the one place that turns a spec into a network

    return TorchBackend(_build_network(spec), spec, options, device=device)

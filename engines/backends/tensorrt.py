"""TensorRT 10: a compiled engine per (model, TensorRT, GPU, precision, batch range), run on torch CUDA buffers.

``load_tensorrt_backend`` exports the model to ONNX if needed, builds the engine if its cache file is missing
(``tensorrt_build``; ``vigil models build --backend tensorrt`` does it ahead of time) and loads it. Device memory
comes from torch: the GPU image already has PyTorch with CUDA, so no second CUDA binding (cuda-python, PyCUDA) is
needed, and torch's caching allocator reuses the input and output buffers from one batch to the next.

One execution context runs at a time (a context holds per-shape state), on the backend's own CUDA stream. Batches
larger than the engine's profile run in consecutive pieces.

Written against the TensorRT 10 Python API; it cannot be installed on the project's CPU machines and runs where
``tensorrt`` imports (NVIDIA's container or index).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import tensorrt as trt
import torch

from engines.backends.calibration import calibration_digest, calibration_files
from engines.backends.devices import gpu_identity
from engines.backends.inputs import ItemShape, check_batch, split_batch, warm_up_batch
from engines.backends.options import BackendOptions
from engines.backends.tensorrt_build import build_engine
from engines.backends.tensorrt_cache import calibration_table_path, engine_path, engine_target
from engines.errors import EngineError
from engines.export import export_model
from engines.registry import ModelSpec

log = logging.getLogger(__name__)

_TORCH_DTYPES = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}


class TensorRTBackend:
    """Runs one serialized TensorRT engine on one GPU.

    Args:
        engine_path: the ``.engine`` file (``load_tensorrt_backend`` builds it).
        device_index: the CUDA device it was built for.

    Raises:
        EngineError: ``model_load_failed`` when the file is missing or was built by another TensorRT version or
            for another GPU, or when the engine's inputs and outputs are not one float tensor each.
    """

    name = "tensorrt"

    def __init__(self, engine_path: Path | str, *, device_index: int = 0) -> None:
        self.engine_path = Path(engine_path)
        self.device = torch.device("cuda", device_index)
        self._logger = trt.Logger(trt.Logger.WARNING)  # referenced for as long as the runtime lives
        self._runtime = trt.Runtime(self._logger)
        try:
            serialized = self.engine_path.read_bytes()
        except OSError as exc:
            raise EngineError(
                f"cannot read TensorRT engine {self.engine_path}: {exc}", code="model_load_failed"
            ) from None
        with torch.cuda.device(self.device):
            self._engine = self._runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise EngineError(
                f"TensorRT {trt.__version__} cannot load {self.engine_path.name} (built by another version or GPU?)",
                code="model_load_failed",
            )
        self._input, self._output = self._io_names()
        shape = tuple(self._engine.get_tensor_shape(self._input))
        self.input_shape: ItemShape = tuple(None if dim < 0 else int(dim) for dim in shape[1:])
        _, _, largest = self._engine.get_tensor_profile_shape(self._input, 0)
        self.max_batch = int(largest[0])
        self._output_dtype = _TORCH_DTYPES[self._engine.get_tensor_dtype(self._output)]
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(self.device)
        self._lock = threading.Lock()
        fixed = all(isinstance(dim, int) for dim in self.input_shape)
        self.run(warm_up_batch(self.input_shape, self.max_batch if fixed else 1))
        log.info("tensorrt: loaded %s (batch 1..%d), warm-up done", self.engine_path.name, self.max_batch)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run an NCHW float32 batch; return float32 outputs, one row per item.

        Raises:
            EngineError: ``bad_batch`` for a wrong dtype or per-item shape, ``inference_failed`` when TensorRT
                refuses to run (its log says why).
        """
        checked = check_batch(batch, self.input_shape)
        with self._lock, torch.cuda.stream(self._stream):
            outputs = [self._run_piece(piece) for piece in split_batch(checked, self.max_batch)]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def _run_piece(self, piece: np.ndarray) -> np.ndarray:
        source = torch.from_numpy(piece if piece.flags.writeable else piece.copy())
        device_input = source.to(self.device)  # on self._stream: ordered before the engine reads it
        self._context.set_input_shape(self._input, tuple(device_input.shape))
        out_shape = tuple(self._context.get_tensor_shape(self._output))
        device_output = torch.empty(out_shape, dtype=self._output_dtype, device=self.device)
        self._context.set_tensor_address(self._input, device_input.data_ptr())
        self._context.set_tensor_address(self._output, device_output.data_ptr())
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise EngineError(f"TensorRT failed to run {self.engine_path.name}", code="inference_failed")
        return device_output.float().cpu().numpy()  # the copy back waits for the stream

    def _io_names(self) -> tuple[str, str]:
        names = [self._engine.get_tensor_name(index) for index in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(
                f"{self.engine_path.name}: expected one input and one output, got {inputs} and {outputs}",
                code="model_load_failed",
            )
        if self._engine.get_tensor_dtype(inputs[0]) != trt.DataType.FLOAT:
            raise EngineError(f"{self.engine_path.name}: the input must be float32", code="model_load_failed")
        if self._engine.get_tensor_dtype(outputs[0]) not in _TORCH_DTYPES:
            raise EngineError(
                f"{self.engine_path.name}: the output must be float32 or float16", code="model_load_failed"
            )
        return inputs[0], outputs[0]


def load_tensorrt_backend(
    spec: ModelSpec, cache_dir: Path | None, options: BackendOptions, *, show_progress: bool = False
) -> TensorRTBackend:
    """Export (if needed), build the engine this GPU, TensorRT and ``options`` call for (if not cached), load it.

    Raises:
        EngineError: what exporting, building and loading raise.
    """
    onnx_path = export_model(spec, cache_dir, show_progress=show_progress)
    calibration = None
    if options.gpu_precision() == "int8" and options.calibration_images is not None:
        calibration = calibration_digest(calibration_files(options.calibration_images))
    target = engine_target(spec, options, gpu_identity(), trt.__version__, calibration)
    path = engine_path(target, cache_dir)
    if path.is_file():
        log.info("tensorrt: using cached engine %s", path.name)
    else:
        log.info(
            "tensorrt: building %s (%s, batch 1..%d); this takes a while", path.name, target.precision, target.max_batch
        )
        started = time.monotonic()
        table = calibration_table_path(target, cache_dir) if calibration is not None else None
        if show_progress:
            from rich.console import Console

            with Console(stderr=True).status(f"Building TensorRT engine {path.name}"):
                build_engine(spec, onnx_path, path, options, table)
        else:
            build_engine(spec, onnx_path, path, options, table)
        log.info("tensorrt: engine for %s ready after %.0f s", spec.version, time.monotonic() - started)
    return TensorRTBackend(path)

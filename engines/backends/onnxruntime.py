"""ONNX Runtime on CPU: the backend every machine has, and what ``auto`` picks on a machine without an NVIDIA GPU.

A session is built once per model, optimised (``ORT_ENABLE_ALL``: constant folding, conv + activation fusion, and
the channel-blocked NCHWc layout that keeps convolutions near the CPU's multiply-add peak), and run once on a zero
batch before it is handed out, so the first camera frame does not pay for lazy initialisation. ONNX Runtime
sessions may be run from several threads at once; this class adds no state that would change that.

Each session's worker threads stop spinning when a run returns (``session.force_spinning_stop``). By default they
keep spinning for a while, waiting for more work, and hold the cores while the next model runs: the face pipeline
runs four sessions in turn (MTCNN's three nets, then the embedder) and the scene model beside them. Measured on the
project's 2-core CPU, the dlib ResNet at batch 16 took 5.2 ms per chip right after another session's run against
2.6 ms alone; with spinning stopped after each run, two sessions run in turn both took 2.7 ms.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.backends.inputs import ItemShape, check_batch, warm_up_batch
from engines.errors import EngineError

log = logging.getLogger(__name__)


class OnnxRuntimeBackend:
    """Runs one exported ONNX model on the CPU.

    Args:
        model_path: the ``.onnx`` file (``engines.export.export_model`` makes it).
        threads: intra-op threads; 0 lets ONNX Runtime use every core.

    Raises:
        EngineError: ``model_load_failed`` when the file is missing or not a loadable model.

    Example:
        >>> backend = OnnxRuntimeBackend(export_model(get_model_spec("mobilenet_v2")), threads=2)
        >>> backend.run(np.zeros((8, 3, 224, 224), np.float32)).shape
        (8, 1280)
    """

    name = "onnxruntime"

    def __init__(self, model_path: Path | str, threads: int = 0) -> None:
        if threads < 0:
            raise EngineError(f"threads must be >= 0 (0 = all cores), got {threads}", code="bad_backend_option")
        self.model_path = Path(model_path)
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types, not exported stably
            raise EngineError(f"cannot load ONNX model {self.model_path}: {exc}", code="model_load_failed") from None
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._output_names = [self._session.get_outputs()[0].name]
        # Per-item input shape, e.g. (3, 224, 224); a dynamic axis (a name or None) accepts any length.
        self.input_shape: ItemShape = tuple(model_input.shape[1:])
        self._warm_up()
        log.info("onnxruntime: loaded %s (threads=%s), warm-up done", self.model_path.name, threads or "all")

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on an NCHW float32 batch and return its first output, one row per item.

        A C-contiguous float32 batch is handed to ONNX Runtime without a copy.

        Raises:
            EngineError: ``bad_batch`` when the batch's dtype or per-item shape is not what the model takes.
        """
        checked = check_batch(batch, self.input_shape)
        return self._session.run(self._output_names, {self._input_name: checked})[0]

    def _warm_up(self) -> None:
        """Run once so that memory arenas and kernels are set up before the first real batch."""
        self.run(warm_up_batch(self.input_shape))


def session_options(threads: int = 0) -> ort.SessionOptions:
    """The options every Vigil session runs with (see the module docstring); benchmarks build their bare sessions
    from them too, so that a comparison with the backend measures the backend, not other settings.

    Args:
        threads: intra-op threads; 0 lets ONNX Runtime use every core.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # one graph, run sequentially: parallelism is within operators
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options

"""How a backend should run its model: one frozen set of options shared by every runtime.

Each runtime reads the options it understands and ignores the rest: ONNX Runtime only needs ``threads``; the torch
backend adds precision, CUDA graphs and ``torch.compile``; TensorRT adds precision, the batch range of its
optimisation profile and the INT8 calibration images. Keeping them in one checked value (rather than a keyword per
runtime) lets the config map onto it once (``ModelsConfig.backend_options``) and lets ``create_backend`` keep one
signature for every row of its table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engines.errors import EngineError

Precision = Literal["auto", "fp32", "fp16", "int8"]
"""``auto``: fp16 on a GPU, fp32 on the CPU. ``int8`` needs TensorRT and calibration images."""

PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "fp16", "int8")


@dataclass(frozen=True)
class BackendOptions:
    """Options for building a backend; checked when built.

    Attributes:
        threads: intra-op CPU threads (ONNX Runtime, torch on CPU); 0 = all cores.
        precision: numeric precision on a GPU; the CPU always runs fp32.
        max_batch: largest batch one inference call runs. TensorRT builds its optimisation profile for 1..max_batch
            and CUDA graphs are captured up to it; longer inputs are split, never refused.
        cuda_graphs: torch on CUDA: replay captured CUDA graphs instead of launching kernels one by one. Pays at
            small batches, where launch overhead dominates; fixed-size models only.
        torch_compile: torch: compile the network with ``torch.compile`` (slow first start, faster kernels).
        calibration_images: TensorRT INT8: a folder of representative images (JPEG/PNG) for entropy calibration.
        workspace_mib: TensorRT builder workspace limit, MiB.
        max_image_side: TensorRT, fully convolutional models (MTCNN's PNet) only: the largest height or width
            the engine's profile accepts.
    """

    threads: int = 0
    precision: Precision = "auto"
    max_batch: int = 32
    cuda_graphs: bool = False
    torch_compile: bool = False
    calibration_images: Path | None = None
    workspace_mib: int = 2048
    max_image_side: int = 2048

    def __post_init__(self) -> None:
        if self.threads < 0:
            self._refuse(f"threads must be >= 0 (0 = all cores), got {self.threads}")
        if self.precision not in PRECISIONS:
            self._refuse(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 1 <= self.max_batch <= 1024:
            self._refuse(f"max_batch must be within 1..1024, got {self.max_batch}")
        if self.workspace_mib < 64:
            self._refuse(f"workspace_mib must be >= 64, got {self.workspace_mib}")
        if self.max_image_side < 12:
            self._refuse(f"max_image_side must be >= 12 (MTCNN's smallest window), got {self.max_image_side}")
        if self.precision == "int8" and self.calibration_images is None:
            self._refuse("precision 'int8' needs calibration_images: a folder of representative images")

    def gpu_precision(self) -> Literal["fp32", "fp16", "int8"]:
        """The precision to run at on a GPU: ``auto`` means fp16 (tensor cores, half the memory traffic)."""
        return "fp16" if self.precision == "auto" else self.precision

    @staticmethod
    def _refuse(message: str) -> None:
        raise EngineError(message, code="bad_backend_option")

"""What this machine can run models on: an NVIDIA GPU (through torch, and TensorRT if installed) or only the CPU.

``auto`` asks these questions once per process and answers tensorrt > torch (CUDA) > onnxruntime. Each answer says
*why*, because "auto picked onnxruntime" on a GPU node is a deployment bug (a CPU-only torch wheel, no driver in the
container) that the log line must make obvious.

Checking for CUDA would mean importing torch (a second or two and a few hundred MB), which a CPU node serving from
ONNX Runtime should not pay at every start: the NVIDIA driver's files are looked for first, and torch is imported
only where a driver is present.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

DRIVER_FILES = (Path("/proc/driver/nvidia/version"), Path("/dev/nvidiactl"), Path("/dev/dxg"))
"""Any of these means an NVIDIA driver is loaded (``/dev/dxg``: a GPU passed through to WSL)."""

TENSORRT_MAJOR = 10
"""The TensorRT major version the backend is written for (11 removed the FP16 flag and INT8 calibrators)."""


@dataclass(frozen=True)
class GpuIdentity:
    """One CUDA device as a compiled engine depends on it: TensorRT engines only run on the GPU model they were
    built for.

    Attributes:
        index: CUDA device index.
        name: marketing name (``NVIDIA H100 80GB HBM3``).
        capability: compute capability ``(major, minor)``.
    """

    index: int
    name: str
    capability: tuple[int, int]

    def slug(self) -> str:
        """File-name-safe identity, e.g. ``nvidia-h100-80gb-hbm3-sm90``."""
        name = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return f"{name}-sm{self.capability[0]}{self.capability[1]}"


def nvidia_driver_loaded() -> bool:
    """True when an NVIDIA driver is present (cheap: looks for its device files, imports nothing)."""
    return any(path.exists() for path in DRIVER_FILES)


@lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """``None`` when torch can use a CUDA GPU here; else why not, for logs and errors."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    if not nvidia_driver_loaded():
        return "no NVIDIA driver on this machine"
    import torch

    if torch.version.cuda is None:
        return f"this PyTorch build ({torch.__version__}) has no CUDA support"
    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA device"
    return None


def cuda_available() -> bool:
    """True when torch can run on a CUDA GPU here."""
    return cuda_unavailable_reason() is None


def gpu_identity(index: int = 0) -> GpuIdentity:
    """Name and compute capability of CUDA device ``index`` (call only where ``cuda_available()``)."""
    import torch

    major, minor = torch.cuda.get_device_capability(index)
    return GpuIdentity(index=index, name=torch.cuda.get_device_name(index), capability=(major, minor))


@lru_cache(maxsize=1)
def tensorrt_unavailable_reason() -> str | None:
    """``None`` when TensorRT 10 imports and a CUDA GPU is usable; else why not."""
    if importlib.util.find_spec("tensorrt") is None:
        return "the 'tensorrt' Python package is not installed (it comes from NVIDIA's index or container)"
    try:
        trt = importlib.import_module("tensorrt")
    except (ImportError, OSError) as exc:  # the wheel is there but its CUDA libraries are not
        return f"'tensorrt' is installed but does not import: {exc}"
    major = int(str(trt.__version__).split(".")[0])
    if major != TENSORRT_MAJOR:
        return f"TensorRT {trt.__version__} is installed; this backend needs TensorRT {TENSORRT_MAJOR}.x"
    cuda = cuda_unavailable_reason()
    return None if cuda is None else f"TensorRT runs on CUDA buffers from PyTorch, and {cuda}"


def choose_auto() -> tuple[str, str]:
    """The backend ``auto`` means on this machine, and why: tensorrt > torch (CUDA) > onnxruntime."""
    trt_reason = tensorrt_unavailable_reason()
    if trt_reason is None:
        return "tensorrt", f"TensorRT on {gpu_identity().name}"
    cuda_reason = cuda_unavailable_reason()
    if cuda_reason is None:
        return "torch", f"torch CUDA on {gpu_identity().name}; tensorrt unavailable: {trt_reason}"
    return "onnxruntime", f"CPU only: {cuda_reason}"

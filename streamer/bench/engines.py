"""Backend throughput: every backend this machine runs, per model and batch size, against a bare ONNX Runtime session.

Each row is one (model, backend, batch): images per second, milliseconds per batch, and the ratio to a bare
``onnxruntime.InferenceSession`` on the same model's export, fed the same ready NCHW tensor. The bare session is
the ceiling for the CPU path (the ONNX Runtime backend adds only its batch check); on a GPU machine the ratio says
how many times faster than the CPU the GPU backends are.

Other work shares the machine (tests on 2 cores, other benchmarks), so every measurement is repeated, the backends
and the bare session are measured in turns within each repeat, and the table shows the median with the spread
(min-max) over repeats; ratios are taken per repeat, between measurements made seconds apart.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.backends import BackendOptions, backend_unavailable_reason, create_backend
from engines.backends.devices import cuda_available
from engines.backends.onnxruntime import session_options
from engines.export import export_model
from engines.preprocess import preprocess_images
from engines.registry import get_model_spec
from streamer.bench.report import BenchTable, console, rate
from streamer.demo.scenes import demo_frames

BARE = "bare ORT"


@dataclass(frozen=True)
class BackendSetup:
    """One backend configuration to measure: a row label and the arguments that build it."""

    label: str
    backend: str
    options: BackendOptions


def available_setups(threads: int = 0) -> tuple[list[BackendSetup], list[str]]:
    """The backend setups this machine can run, and a note for each one it cannot (with the reason)."""
    setups = [BackendSetup("onnxruntime", "onnxruntime", BackendOptions(threads=threads))]
    skipped = []
    if backend_unavailable_reason("torch") is None:
        if cuda_available():
            setups.append(BackendSetup("torch cuda fp16", "torch", BackendOptions(precision="fp16", max_batch=256)))
            graphs = BackendOptions(precision="fp16", max_batch=256, cuda_graphs=True)
            setups.append(BackendSetup("torch cuda fp16 graphs", "torch", graphs))
        else:
            setups.append(BackendSetup("torch cpu fp32", "torch", BackendOptions(threads=threads)))
            skipped.append("torch CUDA rows: no CUDA GPU on this machine")
    else:
        skipped.append(f"torch: {backend_unavailable_reason('torch')}")
    trt_reason = backend_unavailable_reason("tensorrt")
    if trt_reason is None:
        setups.append(BackendSetup("tensorrt fp16", "tensorrt", BackendOptions(precision="fp16", max_batch=256)))
    else:
        skipped.append(f"tensorrt: {trt_reason}")
    return setups, skipped


def bench_engines(
    batch_sizes: tuple[int, ...] = (1, 8, 32),
    seconds: float = 2.0,
    *,
    models: tuple[str, ...] = ("mobilenet_v2", "dlib_resnet128"),
    repeats: int = 3,
    threads: int = 0,
) -> BenchTable:
    """Measure every available backend on every model and batch size; see the module docstring.

    Args:
        batch_sizes: batch sizes to measure (use up to 256 on a GPU machine).
        seconds: wall time of one measurement (one backend, one batch size, one repeat).
        models: registry names of fixed-size models.
        repeats: measurements per cell; the table shows their median and spread.
        threads: CPU threads for ONNX Runtime (bare and backend) and torch on the CPU; 0 = all cores.
    """
    setups, skipped = available_setups(threads)
    table = BenchTable(
        f"backend throughput vs a bare ONNX Runtime session (median of {repeats}, images/s)",
        ["model", "backend", "batch", "images/s", "spread", "ms/batch", f"x {BARE}", "ratio spread"],
        notes=[
            f"{BARE}: onnxruntime.InferenceSession on the same export, tensor and session options "
            f"(threads={threads or 'all'}).",
            "spread: min-max over repeats; each ratio pairs measurements taken in the same repeat.",
            *skipped,
        ],
    )
    for name in models:
        spec = get_model_spec(name)
        with console.status(f"{name}: building backends"):
            bare = _bare_session(export_model(spec, show_progress=False), threads)
            backends = {s.label: create_backend(s.backend, spec, options=s.options) for s in setups}
        images = preprocess_images(list(itertools.islice(demo_frames(), 0, 400, 25)), spec)
        for batch_size in batch_sizes:
            tensor = np.ascontiguousarray(images[np.arange(batch_size) % len(images)])
            runs: dict[str, Callable[[], object]] = {BARE: lambda s=bare, t=tensor: s(t)}
            runs.update({label: (lambda b=backend, t=tensor: b.run(t)) for label, backend in backends.items()})
            with console.status(f"{name}: batch {batch_size}, {len(runs)} runs x {repeats}"):
                measured = _measure_in_turns(runs, batch_size, seconds, repeats)
            table.rows.extend(_rows(name, batch_size, measured))
    return table


def _bare_session(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A plain session with the backend's own options: measured in turns with the backend, one with other thread
    settings would skew both (idle spinning workers of one hold the cores while the other runs)."""
    session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda tensor: session.run(None, {input_name: tensor})[0]


def _measure_in_turns(
    runs: dict[str, Callable[[], object]], batch_size: int, seconds: float, repeats: int
) -> dict[str, list[float]]:
    """Images/s per run label, ``repeats`` values each; every repeat measures every run once, in turn."""
    measured: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            measured[label].append(rate(run, batch_size, seconds))
    return measured


def _rows(model: str, batch_size: int, measured: dict[str, list[float]]) -> list[list[str]]:
    bare = measured[BARE]
    rows = []
    for label, rates in measured.items():
        ratios = [value / base for value, base in zip(rates, bare, strict=True)]
        median = statistics.median(rates)
        rows.append([
            model, label, str(batch_size), f"{median:.1f}", f"{min(rates):.1f}-{max(rates):.1f}",
            f"{1000 * batch_size / median:.2f}", f"{statistics.median(ratios):.2f}",
            f"{min(ratios):.2f}-{max(ratios):.2f}",
        ])  # fmt: skip
    return rows

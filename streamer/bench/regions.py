"""Region embeddings per keyframe: one 224x224 pass per window (``mobilenet_v2``) against windows pooled from one
pass over the frame (``mobilenet_v2_pooled``), on the same 1280x720 frames, one ONNX Runtime thread each.

Modes run in interleaved rounds (alternating order), so load from other processes falls on all of them alike; the
table gives the median CPU time per keyframe with the spread over rounds, and each mode's cost as a multiple of the
shipped default (crops, ``"3x2"``). CPU time, not wall time: on a shared machine it is what a camera costs.
"""

from __future__ import annotations

import time

import numpy as np

from engines.backends import BackendOptions
from engines.scene import SceneEmbedder, load_scene_embedder
from streamer.bench.report import BenchTable
from streamer.demo.scenes import demo_frames

MODES = (
    ("mobilenet_v2", "none"),
    ("mobilenet_v2", "3x2"),
    ("mobilenet_v2", "3x2+4x3"),
    ("mobilenet_v2_pooled", "3x2"),
    ("mobilenet_v2_pooled", "3x2+4x3"),
    ("mobilenet_v2_pooled", "3x2+4x3+6x4"),
)
BASELINE = ("mobilenet_v2", "3x2")


def bench_regions(rounds: int, batch: int = 4) -> BenchTable:
    frames = list(demo_frames())[::40][:batch]
    models = {name: load_scene_embedder(name, options=BackendOptions(threads=1)) for name in {m for m, _ in MODES}}
    costs: dict[tuple[str, str], list[float]] = {mode: [] for mode in MODES}
    for mode in MODES:
        _cpu_ms(models[mode[0]], frames, mode[1])  # warm-up
    for index in range(rounds):
        for mode in MODES if index % 2 == 0 else MODES[::-1]:
            costs[mode].append(_cpu_ms(models[mode[0]], frames, mode[1]))
    crops = models["mobilenet_v2"].embed_regions(frames, "3x2").vectors
    pooled = models["mobilenet_v2_pooled"].embed_regions(frames, "3x2").vectors
    cosines = np.sum(crops * pooled, axis=1).reshape(len(frames), -1)
    baseline = float(np.median(costs[BASELINE]))
    table = BenchTable(
        "scene regions per keyframe: crops vs pooled from one pass (CPU ms, 1 thread)",
        ["model", "regions", "rows", "CPU ms median", "min-max", "x crops 3x2"],
        notes=[
            f"{len(frames)} frames of 1280x720 per call, {rounds} interleaved rounds; CPU time of this process.",
            f"cosine pooled vs crop, same window: whole frame median {np.median(cosines[:, 0]):.3f}, 3x2 windows "
            f"median {np.median(cosines[:, 1:]):.3f} (min {cosines[:, 1:].min():.3f}).",
        ],
    )
    for (name, grid), values in costs.items():
        rows = models[name].embed_regions(frames[:1], grid).per_frame
        median = float(np.median(values))
        table.rows.append(
            [name, grid, str(rows), f"{median:.1f}", f"{min(values):.1f}-{max(values):.1f}", f"{median / baseline:.2f}"]
        )
    return table


def _cpu_ms(model: SceneEmbedder, frames: list[np.ndarray], grid: str) -> float:
    started = time.process_time()
    model.embed_regions(frames, grid)
    return (time.process_time() - started) * 1e3 / len(frames)

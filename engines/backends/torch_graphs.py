"""CUDA graphs for the torch backend: a forward pass recorded once per batch size, then replayed in one launch.

MobileNetV2 is ~150 small kernels; at batch 1-8 on a large GPU the time goes to launching them, not running them.
A CUDA graph replays the recorded launches at once. Graphs have fixed shapes and read and write fixed buffers, so
one graph is captured per bucket (powers of two up to ``max_batch``), a batch is padded up to its bucket (in eval
mode rows never interact, so padding rows cannot change the real rows' outputs), and replays take turns on a lock
because they share those buffers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

WARM_UP_RUNS = 3
"""Eager runs before a capture, on a side stream as PyTorch requires: lazy initialisation and cuDNN's algorithm
choice must happen outside the recording."""


def bucket_sizes(max_batch: int) -> list[int]:
    """Powers of two below ``max_batch``, then ``max_batch`` itself: at most 2x padding for any batch."""
    sizes = [1 << shift for shift in range(max_batch.bit_length()) if 1 << shift < max_batch]
    return [*sizes, max_batch]


class CudaGraphRunner:
    """Replays one captured CUDA graph per batch-size bucket.

    Args:
        forward: the network (eval mode, on ``device``, in ``dtype`` and ``layout``).
        item_shape: per-item input shape, e.g. ``(3, 224, 224)``.
        dtype: input dtype the network takes (fp16 or fp32).
        layout: memory format of the input (channels-last on GPU).
        device: the CUDA device.
        max_batch: largest bucket; ``run`` takes at most this many items.
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        item_shape: tuple[int, ...],
        dtype: torch.dtype,
        layout: torch.memory_format,
        device: torch.device,
        max_batch: int,
    ) -> None:
        self._sizes = bucket_sizes(max_batch)
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.Lock()
        pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream(device)
        started = time.monotonic()
        with torch.inference_mode():
            for size in reversed(self._sizes):  # largest first: smaller graphs reuse its memory pool
                static_in = torch.zeros((size, *item_shape), dtype=dtype, device=device)
                static_in = static_in.contiguous(memory_format=layout)
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    for _ in range(WARM_UP_RUNS):
                        forward(static_in)
                torch.cuda.current_stream(device).wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    static_out = forward(static_in)
                self._graphs[size] = (graph, static_in, static_out)
        torch.cuda.synchronize(device)
        log.info(
            "torch: captured %d CUDA graphs (batch %s) in %.1f s",
            len(self._sizes),
            self._sizes,
            time.monotonic() - started,
        )

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Replay the smallest graph that holds ``batch`` (at most ``max_batch`` items); return its rows' outputs.

        The result is a copy, so the next replay cannot overwrite it.
        """
        count = len(batch)
        size = next(size for size in self._sizes if size >= count)
        graph, static_in, static_out = self._graphs[size]
        with self._lock:
            static_in[:count].copy_(batch)  # rows past ``count`` keep stale inputs: harmless, rows never interact
            graph.replay()
            return static_out[:count].clone()

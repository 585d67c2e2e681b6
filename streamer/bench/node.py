"""Cameras per node: the most cameras this machine serves at one keyframe per 2 s each without dropping a keyframe.

Each trial replays N cameras from a file (no network) in real time: camera c's keyframes fall due every 2 s, the
cameras spread evenly over the period. A pool of decode threads (one per core) decodes each keyframe when due; a
camera's decoded keyframes wait in a queue of 4 (``batch.per_camera_queue``), the oldest dropped when it is full,
as the service's batcher does; one inference thread takes up to 32 waiting keyframes (or what came within 50 ms),
crops each into the 3x2 region grid, preprocesses, runs the scene network, searches the watchlist and feeds the
alert policy. A keyframe is dropped when its queue overflows, when its decode starts a whole period late (the next
one is already due), or when it is still waiting once the trial has drained for a period.

The first N comes from the stages' measured cost per keyframe; trials then search (double while sustained, bisect
once one is not) for the largest N sustained: zero drops, and p95 latency under the 2 s period (beyond it the
inference thread is falling behind and would drop in a longer run). Each row gives a trial's drops, every stage's
utilisation (decode: busy time over the decode threads' time; the others share the inference thread, so they add
up to its load) and the keyframe-due -> policy-done latency.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamer.bench.node_stages import (
    ClipDecoder,
    StageClock,
    alert_policy,
    embed_frames,
    keyframe_clip,
    reference_embedding,
    scene_backend,
    watchlist_search,
)
from streamer.bench.report import BenchTable, console, percentiles

PERIOD_S = 2.0
QUEUE = 4
MAX_FRAMES = 32
MAX_WAIT_S = 0.05
STAGES = ("decode", "preprocess", "engine", "search", "policy")


@dataclass
class TrialResult:
    cameras: int
    keyframes: int
    drops: int
    wall_s: float
    busy: dict[str, float]
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def sustained(self) -> bool:
        """No keyframe dropped, and 95% of them through the policy before the camera's next one is due."""
        return (
            self.drops == 0 and bool(self.latencies_ms) and percentiles(self.latencies_ms, (95,))[95] < PERIOD_S * 1000
        )


class NodeReplay:
    """The stages of one node, ready to replay any number of cameras through them (see the module docstring)."""

    def __init__(self, clip: Path, distractors: int) -> None:
        self.decoder = ClipDecoder(clip)
        self.backend, self.backend_label = scene_backend()
        self.search, self.search_label = watchlist_search(reference_embedding(self.backend), distractors)
        self.policy = alert_policy()
        self.decode_threads = os.cpu_count() or 1

    def cost_per_keyframe(self, frames: int = 8) -> tuple[float, float]:
        """Seconds per keyframe of decoding (one thread) and of everything else (the inference thread)."""
        clock = StageClock()
        with clock.timing("decode"):
            batch = [self.decoder.next_frame() for _ in range(frames)]
        self._infer(["cam0"] * frames, batch, StageClock())  # warm-up: first-call allocations, lazy init
        with clock.timing("infer"):
            self._infer(["cam0"] * frames, batch, StageClock())
        return clock.busy["decode"] / frames, clock.busy["infer"] / frames

    def trial(self, cameras: int, seconds: float) -> TrialResult:
        """Replay ``cameras`` cameras for ``seconds`` in real time; count what is dropped, time every stage."""
        clock, lock = StageClock(), threading.Lock()
        queues: dict[str, deque[tuple[float, np.ndarray]]] = {f"cam{c}": deque() for c in range(cameras)}
        ready: queue.Queue[None] = queue.Queue()
        start = time.monotonic() + 0.2
        due = sorted(
            (start + c * PERIOD_S / cameras + k * PERIOD_S, f"cam{c}")
            for c in range(cameras)
            for k in range(max(1, int(seconds / PERIOD_S)))
        )
        result = TrialResult(cameras, len(due), 0, 0.0, {})

        def decode(at: float, camera: str) -> None:
            if time.monotonic() - at > PERIOD_S:
                with lock:
                    result.drops += 1
                return
            with clock.timing("decode"):
                frame = self.decoder.next_frame()
            with lock:
                pending = queues[camera]
                if len(pending) == QUEUE:
                    pending.popleft()
                    result.drops += 1
                pending.append((at, frame))
            ready.put(None)

        stop = threading.Event()
        worker = threading.Thread(target=self._serve, args=(queues, lock, ready, stop, clock, result), daemon=True)
        worker.start()
        with ThreadPoolExecutor(self.decode_threads) as pool:
            for at, camera in due:
                time.sleep(max(0.0, at - time.monotonic()))
                pool.submit(decode, at, camera)
        time.sleep(max(0.0, due[-1][0] + PERIOD_S - time.monotonic()))
        stop.set()
        ready.put(None)
        worker.join(timeout=60)
        result.wall_s = time.monotonic() - start
        result.drops += sum(len(pending) for pending in queues.values())  # still waiting a period after the last due
        result.busy = dict(clock.busy)
        return result

    def _serve(
        self,
        queues: dict[str, deque[tuple[float, np.ndarray]]],
        lock: threading.Lock,
        ready: queue.Queue[None],
        stop: threading.Event,
        clock: StageClock,
        result: TrialResult,
    ) -> None:
        """The inference thread: batches of up to MAX_FRAMES waiting keyframes, gathered for at most MAX_WAIT_S."""
        while not stop.is_set():
            ready.get()
            deadline = time.monotonic() + MAX_WAIT_S
            while time.monotonic() < deadline and sum(map(len, queues.values())) < MAX_FRAMES and not stop.is_set():
                time.sleep(0.002)
            taken: list[tuple[str, float, np.ndarray]] = []
            with lock:
                for camera, pending in queues.items():
                    while pending and len(taken) < MAX_FRAMES:
                        taken.append((camera, *pending.popleft()))
            if taken:
                self._infer([t[0] for t in taken], [t[2] for t in taken], clock)
                done = time.monotonic()
                result.latencies_ms.extend((done - t[1]) * 1000 for t in taken)

    def _infer(self, cameras: list[str], frames: list[np.ndarray], clock: StageClock) -> None:
        vectors = embed_frames(self.backend, frames, clock)
        with clock.timing("search"):
            hits = self.search(vectors)
        with clock.timing("policy"):
            if self.policy is not None:
                for index, camera in enumerate(cameras):
                    rows = hits[index * 7 : (index + 1) * 7]
                    self.policy(camera, [row[0] for row in rows if 0 in row])


def bench_node(seconds: float, max_trials: int, distractors: int = 2_000) -> BenchTable:
    """Search for the most cameras this machine sustains; one row per trial, the answer in the title and notes."""
    with tempfile.TemporaryDirectory(prefix="vigil-node-") as tmp:
        with console.status("node: building the stages"):
            replay = NodeReplay(keyframe_clip(Path(tmp) / "keyframes.avi"), distractors)
            decode_s, infer_s = replay.cost_per_keyframe()
        per_keyframe = max(infer_s, decode_s / replay.decode_threads)
        cameras = max(1, int(0.8 * PERIOD_S / per_keyframe))
        passed, failed, trials = 0, None, []
        for _ in range(max_trials):
            with console.status(f"node: {cameras} cameras for {seconds:.0f} s"):
                trial = replay.trial(cameras, seconds)
            trials.append(trial)
            if trial.sustained:
                passed = max(passed, cameras)
            else:
                failed = cameras if failed is None else min(failed, cameras)
            following = cameras * 2 if failed is None else (passed + failed) // 2
            if following in (passed, failed) or following < 1:
                break
            cameras = following
    return _table(trials, passed, replay, decode_s, infer_s)


def _table(trials: list[TrialResult], passed: int, replay: NodeReplay, decode_s: float, infer_s: float) -> BenchTable:
    table = BenchTable(
        f"node capacity: {passed} cameras at 1 keyframe / {PERIOD_S:.0f} s, 0 drops, p95 under {PERIOD_S:.0f} s",
        ["cameras", "keyframes", "drops", *(f"{s} util" for s in STAGES), "p50 ms", "p95 ms"],
        notes=[
            f"engine: {replay.backend_label}, MobileNetV2 on the frame + 3x2 regions (7 crops per keyframe); "
            f"search: {replay.search_label}; policy: {'run' if replay.policy else 'not run (pydantic missing)'}.",
            f"decode: {replay.decode_threads} threads, 1280x720 Motion-JPEG keyframes from a file; measured cost "
            f"{decode_s * 1000:.1f} ms decode, {infer_s * 1000:.1f} ms preprocess+engine+search per keyframe.",
            "util: decode over its threads; the other stages share one inference thread (their sum is its load).",
        ],
    )
    for t in sorted(trials, key=lambda t: t.cameras):
        util = [t.busy.get(s, 0.0) / t.wall_s / (replay.decode_threads if s == "decode" else 1) for s in STAGES]
        p = percentiles(t.latencies_ms, (50, 95))
        table.rows.append(
            [
                str(t.cameras),
                str(t.keyframes),
                str(t.drops),
                *(f"{u:.0%}" for u in util),
                f"{p[50]:.0f}",
                f"{p[95]:.0f}",
            ]
        )
    return table

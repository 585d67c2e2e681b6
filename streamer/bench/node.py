"""Cameras per node: the most cameras this machine serves at one keyframe per 2 s each without dropping a keyframe.

Each trial replays N cameras from a file (no network) in real time: camera c's keyframes fall due every 2 s, the cameras
spread evenly over the period. A pool of decode threads (one per core) decodes each keyframe when due; a camera's
decoded keyframes wait in a queue of 4 (``batch.per_camera_queue``), the oldest dropped when it is full, as the
service's batcher does; one inference thread takes up to ``batch.max_batch`` waiting keyframes (8, or what came within
50 ms; 32 on a GPU: ``node_stages.batch_limits``), judges
whether each shows its camera's last matched picture, one that matched nothing (``streamer.unchanged``: then nothing
below runs for it), embeds the others whole and by region as the pipeline does (``models.scene`` over
``models.scene_regions``: by default 3x2 windows pooled from one ``mobilenet_v2_pooled`` pass, or each window
its own crop with ``mobilenet_v2``) while a second thread finds and embeds their faces (the service's defaults:
faces on, as while the face watchlist holds entries), searches the watchlist and feeds the alert policy.

What the cameras show is a parameter, ``changing``: the share of each camera's keyframes that show a new picture
(1.0: every keyframe a different photo, the worst case; 0.25: something moves in one keyframe in four). A keyframe
that does not change repeats its camera's last picture (its decode is still paid); one that changes shows the next
decoded photo shifted sideways by an amount that differs from the camera's previous keyframe's.

A keyframe is dropped when its queue overflows, when its decode starts a whole period late (the next
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.bench.node_stages import (
    ClipDecoder,
    SceneStage,
    StageClock,
    alert_policy,
    backend_options,
    batch_limits,
    face_stage,
    keyframe_clip,
    scene_settings,
    watchlist_search,
)
from streamer.bench.report import BenchTable, console, percentiles
from streamer.sources.frame import Keyframe

if TYPE_CHECKING:
    from streamer.alerts.policy import Sighting
    from streamer.unchanged import MatchContext, UnchangedKeyframes

PERIOD_S = 2.0
QUEUE = 4
STAGES = ("decode", "change", "preprocess", "engine", "faces", "search", "policy")


@dataclass
class TrialResult:
    cameras: int
    keyframes: int
    drops: int
    wall_s: float
    busy: dict[str, float]
    latencies_ms: list[float] = field(default_factory=list)
    matched: int = 0  # keyframes embedded and searched (the others showed their camera's last, empty picture)

    @property
    def sustained(self) -> bool:
        """No keyframe dropped, and 95% of them through the policy before the camera's next one is due."""
        return (
            self.drops == 0 and bool(self.latencies_ms) and percentiles(self.latencies_ms, (95,))[95] < PERIOD_S * 1000
        )


class NodeReplay:
    """The stages of one node, ready to replay any number of cameras through them (see the module docstring).

    Args:
        clip: the keyframes to replay (``keyframe_clip``).
        distractors: watchlist size besides the reference.
        faces: run the face stage (the service's default).
        changing: share of each camera's keyframes that show a new picture.
        skip_unchanged: do not match a keyframe that shows its camera's last matched picture when that matched
            nothing
            (``sample.skip_unchanged``, the service's default).
        threads: intra-op threads of the CPU backends (``models.threads``; 0 = all cores).
        scene: the scene model (``models.scene``; ``None``: the config's default).
        regions: the region grid (``models.scene_regions``; ``None``: the config's default).
    """

    def __init__(
        self,
        clip: Path,
        distractors: int,
        *,
        faces: bool = True,
        changing: float = 1.0,
        skip_unchanged: bool = True,
        threads: int = 0,
        scene: str | None = None,
        regions: str | None = None,
    ) -> None:
        self.decoder = ClipDecoder(clip)
        self.scene = SceneStage(*scene_settings(scene, regions), threads=threads)
        self.search, self.search_label = watchlist_search(self.scene.reference(), distractors)
        self.faces, self.faces_label = face_stage(threads) if faces else (None, "faces off")
        self.policy = alert_policy(self.scene.scene)
        self.decode_threads = os.cpu_count() or 1
        self.max_batch, self.max_wait_s = batch_limits()
        self.changing = changing
        self.threads = threads
        self._unchanged = _unchanged_gate() if skip_unchanged else None
        self.skip_unchanged = self._unchanged is not None
        self._context, self._seen = _one_watchlist() if self._unchanged is not None else (None, [])
        self.matched = 0  # keyframes matched so far
        self._faces_thread = ThreadPoolExecutor(1, thread_name_prefix="faces")  # beside the scene network, as served
        self._last_scores: dict[str, list[list[float]]] = {}  # camera -> its last matched keyframe's region scores

    def cost_per_keyframe(self, frames: int = 8) -> tuple[float, float]:
        """Seconds per keyframe of decoding (one thread) and of everything else (the inference thread)."""
        clock = StageClock()
        with clock.timing("decode"):
            batch = [self.decoder.next_frame() for _ in range(frames)]
        cameras = [f"warm{c}" for c in range(frames)]  # each its own camera: every keyframe is matched
        self._infer(cameras, batch, StageClock(), [0.0] * frames)  # warm-up: first-call allocations, lazy init
        cameras = [f"cost{c}" for c in range(frames)]
        with clock.timing("infer"):
            self._infer(cameras, batch, StageClock(), [0.0] * frames)
        return clock.busy["decode"] / frames, clock.busy["infer"] / frames

    def trial(self, cameras: int, seconds: float) -> TrialResult:
        """Replay ``cameras`` cameras for ``seconds`` in real time; count what is dropped, time every stage."""
        clock, lock = StageClock(), threading.Lock()
        queues: dict[str, deque[tuple[float, np.ndarray]]] = {f"cam{c}": deque() for c in range(cameras)}
        ready: queue.Queue[None] = queue.Queue()
        start = time.monotonic() + 0.2
        due = sorted(
            (start + c * PERIOD_S / cameras + k * PERIOD_S, f"cam{c}", k)
            for c in range(cameras)
            for k in range(max(1, int(seconds / PERIOD_S)))
        )
        result = TrialResult(cameras, len(due), 0, 0.0, {})
        matched_before = self.matched
        shown: dict[str, np.ndarray] = {}  # camera -> the picture it shows now

        def decode(at: float, camera: str, k: int) -> None:
            if time.monotonic() - at > PERIOD_S:
                with lock:
                    result.drops += 1
                return
            with clock.timing("decode"):
                frame = self.decoder.next_frame()
            changes = k == 0 or int((k + 1) * self.changing) > int(k * self.changing)  # evenly, a share `changing`
            if changes:  # the clip's photo, moved: a camera's decodes can fall on the same photo of the loop
                frame = shown[camera] = np.roll(frame, (k * 37) % 400, axis=1)
            else:
                frame = shown.get(camera, frame)
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
            for at, camera, k in due:
                time.sleep(max(0.0, at - time.monotonic()))
                pool.submit(decode, at, camera, k)
        time.sleep(max(0.0, due[-1][0] + PERIOD_S - time.monotonic()))
        stop.set()
        ready.put(None)
        worker.join(timeout=60)
        result.wall_s = time.monotonic() - start
        result.drops += sum(len(pending) for pending in queues.values())  # still waiting a period after the last due
        result.busy = dict(clock.busy)
        result.matched = self.matched - matched_before
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
        """The inference thread: batches of up to ``max_batch`` keyframes, gathered for at most ``max_wait_s``."""
        while not stop.is_set():
            ready.get()
            deadline = time.monotonic() + self.max_wait_s
            while time.monotonic() < deadline and sum(map(len, queues.values())) < self.max_batch and not stop.is_set():
                time.sleep(0.002)
            taken: list[tuple[str, float, np.ndarray]] = []
            with lock:
                for camera, pending in queues.items():
                    while pending and len(taken) < self.max_batch:
                        taken.append((camera, *pending.popleft()))
            if taken:
                self._infer([t[0] for t in taken], [t[2] for t in taken], clock, [t[1] for t in taken])
                done = time.monotonic()
                result.latencies_ms.extend((done - t[1]) * 1000 for t in taken)

    def _find_faces(self, frames: list[np.ndarray], clock: StageClock) -> None:
        if self.faces is not None:
            with clock.timing("faces"):
                self.faces(frames)

    def _infer(self, cameras: list[str], frames: list[np.ndarray], clock: StageClock, times: list[float]) -> None:
        """What the inference thread does for a batch: judge change, match what changed, vote on all of it."""
        keyframes = [
            Keyframe(camera=c, image=f, frame_time=datetime.now(UTC), received_at=t, is_keyframe=True)
            for c, f, t in zip(cameras, frames, times, strict=True)
        ]
        gate = self._unchanged
        with clock.timing("change"):
            verdicts = [gate.check(frame, self._context) if gate else None for frame in keyframes]
        fresh = [p for p, verdict in enumerate(verdicts) if verdict is None or verdict.reused is None]
        self.matched += len(fresh)
        if fresh:
            faces = self._faces_thread.submit(self._find_faces, [frames[p] for p in fresh], clock)
            vectors = self.scene.embed([frames[p] for p in fresh], clock)
            faces.result()
            with clock.timing("search"):
                hits = self.search(vectors)
            per_frame = self.scene.grid.per_frame
            for offset, position in enumerate(fresh):
                rows = hits[offset * per_frame : (offset + 1) * per_frame]
                scores = [[row[0]] if 0 in row else [] for row in rows]
                self._last_scores[cameras[position]] = scores
                if gate is not None:  # a camera that sees the reference is matched at every keyframe, as served
                    seen = self._seen if any(scores) else []
                    gate.remember(keyframes[position], verdicts[position], self._context, seen)
        with clock.timing("policy"):
            if self.policy is not None:
                for camera in cameras:
                    self.policy(camera, [score for row in self._last_scores.get(camera, []) for score in row])


def _unchanged_gate() -> UnchangedKeyframes | None:
    """The service's unchanged-keyframe gate, or ``None`` where its configuration types (pydantic) or metrics are not
    installed, as on the GPU image."""
    try:
        from streamer.metrics import VigilMetrics
        from streamer.unchanged import UnchangedKeyframes
    except ImportError:
        return None
    return UnchangedKeyframes({}, VigilMetrics())


def _one_watchlist() -> tuple[MatchContext, list[Sighting]]:
    """What every trial's sightings are found against (one watchlist, never changed during a trial), and the
    sightings of a keyframe that shows the reference (the gate only needs to know that there are some)."""
    from streamer.alerts.event import AlertKind
    from streamer.alerts.policy import Sighting
    from streamer.unchanged import MatchContext

    return MatchContext(()), [Sighting("ref", "Astronaut", AlertKind.ANOMALY, 1.0, 0.8, (0, 0, 1, 1))]


def bench_node(
    seconds: float,
    max_trials: int,
    distractors: int = 2_000,
    *,
    faces: bool = True,
    changing: float = 1.0,
    skip_unchanged: bool = True,
    threads: int = 0,
    scene: str | None = None,
    regions: str | None = None,
) -> BenchTable:
    """Search for the most cameras this machine sustains; one row per trial, the answer in the title and notes.
    The keyword arguments are ``NodeReplay``'s (the defaults: the service's, every keyframe a new picture)."""
    with tempfile.TemporaryDirectory(prefix="vigil-node-") as tmp:
        with console.status("node: building the stages"):
            replay = NodeReplay(
                keyframe_clip(Path(tmp) / "keyframes.avi"),
                distractors,
                faces=faces,
                changing=changing,
                skip_unchanged=skip_unchanged,
                threads=threads,
                scene=scene,
                regions=regions,
            )
            decode_s, infer_s = replay.cost_per_keyframe()
        matched = max(changing, 0.1) if skip_unchanged else 1.0
        per_keyframe = max(infer_s * matched, decode_s / replay.decode_threads)
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
    scene, grid = replay.scene, replay.scene.grid
    how = "pooled from one pass" if scene.embedder.pooled else "crops"
    table = BenchTable(
        f"node capacity: {passed} cameras at 1 keyframe / {PERIOD_S:.0f} s, 0 drops, p95 under {PERIOD_S:.0f} s"
        f" ({replay.changing:.0%} of keyframes change; {scene.scene}, regions {grid})",
        ["cameras", "keyframes", "matched", "drops", *(f"{s} util" for s in STAGES), "p50 ms", "p95 ms"],
        notes=[
            f"engine: {scene.label}, {scene.scene} on the frame + regions {grid} ({grid.per_frame} embeddings per "
            f"keyframe, {how}; SceneEmbedder.embed_regions), "
            f"{backend_options(replay.threads).threads or 'all'} thread(s) per CPU network; "
            f"{replay.faces_label}; search: {replay.search_label}; batches of up to {replay.max_batch} keyframes "
            f"or {replay.max_wait_s * 1000:.0f} ms; "
            f"policy: {'run' if replay.policy else 'not run (pydantic missing)'}.",
            f"content: {replay.changing:.0%} of each camera's keyframes show a new picture, the others repeat it; "
            f"unchanged keyframes of a camera that matched nothing are "
            f"{'not matched again' if replay.skip_unchanged else 'matched anyway'}.",
            f"decode: {replay.decode_threads} threads, 1280x720 Motion-JPEG keyframes from a file; measured cost "
            f"{decode_s * 1000:.1f} ms decode, {infer_s * 1000:.1f} ms change+preprocess+engine+faces+search per "
            "matched keyframe.",
            "util: decode over its threads; faces run on a thread of their own beside the scene network (as in the "
            "service), the other stages share the inference thread.",
        ],
    )
    for t in sorted(trials, key=lambda t: t.cameras):
        util = [t.busy.get(s, 0.0) / t.wall_s / (replay.decode_threads if s == "decode" else 1) for s in STAGES]
        p = percentiles(t.latencies_ms, (50, 95))
        table.rows.append(
            [
                str(t.cameras),
                str(t.keyframes),
                str(t.matched),
                str(t.drops),
                *(f"{u:.0%}" for u in util),
                f"{p[50]:.0f}",
                f"{p[95]:.0f}",
            ]
        )
    return table

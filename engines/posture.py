"""People and the tilt of their bodies, from MediaPipe's BlazePose person detector.

Frozen MobileNetV2 features of a small person on a ward floor carry no fall signal (README, "Few-shot adaptation"):
a fall is a posture, not an appearance. BlazePose's detector finds each person (from the face) and two body
keypoints: the mid-hip and a point that, from the hip, points along the body through the head. The angle of that
vector is the body's tilt: 0 degrees for a standing person, 90 for one lying down, whatever the room looks like.

The network (``pose_detection.tflite``, Apache-2.0) ships inside the ``mediapipe`` 0.10.14 wheel, which the
bootstrap installs without its dependencies: Vigil reads the file and runs it with the TensorFlow Lite runtime
(``ai-edge-litert``); its sparse weights (a DENSIFY op) have no ONNX conversion. Nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from engines.errors import EngineError

INPUT_PX = 224
MIN_SCORE = 0.5  # the detector's own operating point (MediaPipe's pose_detection graph)
NMS_IOU = 0.3
WEIGHTS = Path("modules/pose_detection/pose_detection.tflite")  # inside the mediapipe package
XNNPACK_NOTICE = "Created TensorFlow Lite XNNPACK delegate"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    """One detected person: ``box`` (x, y, width, height in pixels) is the square the body fits in, centred on the
    hip; ``tilt_deg`` is the body axis' angle from upright (0: standing, 90: lying, 180: upside down)."""

    box: tuple[int, int, int, int]
    score: float
    tilt_deg: float

    def lying(self, within_deg: float) -> float:
        """How much this person is lying down, in [0, 1]: 1 within ``within_deg`` of horizontal, 0 beyond
        ``within_deg + 15``, linear between (a keypoint a few degrees off must not flip the verdict)."""
        off_horizontal = abs(90.0 - min(self.tilt_deg, 180.0 - self.tilt_deg))
        return float(np.clip((within_deg + 15.0 - off_horizontal) / 15.0, 0.0, 1.0))


def weights_path() -> Path:
    """The detector's weights in the installed ``mediapipe`` package (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "the person posture detector needs the 'mediapipe==0.10.14' package (its weights); `make setup` installs"
            " it, or turn posture off (posture.enabled: false)",
            code="model_missing",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS
    if not path.is_file():
        raise EngineError(f"the installed mediapipe has no {WEIGHTS} (version 0.10.14 ships it)", code="model_missing")
    return path


@contextlib.contextmanager
def _runtime_notices_to_log() -> Iterator[None]:
    """Routes what the TensorFlow Lite runtime prints on the process's stderr while loading into the log.

    The runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to file descriptor 2 from
    C++, past Python's logging and whatever ``TF_CPP_MIN_LOG_LEVEL`` says, which breaks a node's structured log. That
    notice is dropped; anything else the runtime says is logged as a warning, so a real problem is still seen.
    """
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()  # Python's own pending output goes out first, not into the capture
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and XNNPACK_NOTICE not in line:
                    log.warning("TensorFlow Lite: %s", line.strip())


@cache
def _anchors() -> np.ndarray:
    """The SSD anchor centres the network's outputs are offsets from (MediaPipe's SsdAnchorsCalculator with the
    pose graph's options: strides 8, 16, 32, 32, 32, two anchors per cell and layer, fixed size)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        cells = INPUT_PX // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class PersonPostureDetector:
    """``detect(frame) -> [Person]`` on RGB frames of any size (letterboxed to 224x224, as MediaPipe does).

    Args:
        tiles: on wide frames, also look at the left and right squares (three network runs instead of one).
        threads: TensorFlow Lite's threads for this detector (one interpreter per detector; not thread-safe, so
            calls are serialised).
    """

    name = "blazepose_detector"

    def __init__(self, *, tiles: bool = False, threads: int = 1) -> None:
        self._tiles = tiles
        path = weights_path()
        from ai_edge_litert.interpreter import Interpreter  # here: only a node with posture on loads the runtime

        with _runtime_notices_to_log():
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._boxes, self._scores = outputs["Identity"], outputs["Identity_1"]
        self._lock = threading.Lock()
        self.version = f"{self.name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"

    def detect(self, frame: np.ndarray) -> list[Person]:
        """Every person scoring at least ``MIN_SCORE``, best first."""
        height, width = frame.shape[:2]
        found = [self._candidates(frame[y : y + h, x : x + w], x, y) for x, y, w, h in self._views(width, height)]
        scores, faces, hips, heads = (np.concatenate(parts) for parts in zip(*found, strict=True))
        if scores.size == 0:
            return []
        kept = cv2.dnn.NMSBoxes(faces.tolist(), scores.tolist(), MIN_SCORE, NMS_IOU)  # on face boxes, as MediaPipe
        people = []
        for i in np.asarray(kept, dtype=int).ravel():
            axis = heads[i] - hips[i]
            radius = float(np.hypot(*axis))
            tilt = math.degrees(math.atan2(abs(float(axis[0])), -float(axis[1])))  # image y grows downwards
            x0, y0 = (max(0, round(float(v) - radius)) for v in hips[i])
            x1, y1 = min(width, round(float(hips[i][0]) + radius)), min(height, round(float(hips[i][1]) + radius))
            if x1 > x0 and y1 > y0:
                people.append(Person((x0, y0, x1 - x0, y1 - y0), float(scores[i]), tilt))
        return sorted(people, key=lambda person: person.score, reverse=True)

    def _views(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The whole frame, and with ``tiles`` on a wide frame, also its left and right squares: each is shrunk to
        224 pixels, so a square the frame's height sees people 1.8 times larger than the whole 16:9 frame does."""
        views = [(0, 0, width, height)]
        if self._tiles and width >= 1.5 * height:
            views += [(0, 0, height, height), (width - height, 0, height, height)]
        return views

    def _candidates(self, view: np.ndarray, x: int, y: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scores, face boxes, hips and head-ward points of the detections in one view, in frame pixels."""
        height, width = view.shape[:2]
        side = max(height, width)  # letterboxed: shrunk to fit 224x224 first, then padded (cheaper than the reverse)
        fitted = (max(1, round(width * INPUT_PX / side)), max(1, round(height * INPUT_PX / side)))
        small = cv2.resize(view, fitted, interpolation=cv2.INTER_AREA)
        top, left = (INPUT_PX - fitted[1]) // 2, (INPUT_PX - fitted[0]) // 2
        square = cv2.copyMakeBorder(
            small, top, INPUT_PX - fitted[1] - top, left, INPUT_PX - fitted[0] - left, cv2.BORDER_CONSTANT
        )
        with self._lock:
            self._interpreter.set_tensor(self._input, (square.astype(np.float32) / 127.5 - 1.0)[None])
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._boxes)[0] / INPUT_PX
            logits = self._interpreter.get_tensor(self._scores)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))  # MediaPipe clips at 100: float32 overflows
        candidates = np.flatnonzero(scores >= MIN_SCORE)
        anchors, raw = _anchors()[candidates], raw[candidates]
        origin = np.array([x, y], np.float32) - np.array([left, top], np.float32) / INPUT_PX * side
        faces = np.concatenate([(raw[:, 0:2] - raw[:, 2:4] / 2 + anchors) * side + origin, raw[:, 2:4] * side], axis=1)
        hips = (raw[:, 4:6] + anchors) * side + origin
        heads = (raw[:, 6:8] + anchors) * side + origin
        return scores[candidates], faces, hips, heads

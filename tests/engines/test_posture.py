"""The person posture detector (BlazePose's detector, read from the mediapipe wheel) on real photos: the same person
photographed upright reads as standing, and the same picture turned a quarter either way reads as lying."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from engines.posture import Person, PersonPostureDetector
from streamer.demo.scenes import photo


@pytest.fixture(scope="module")
def detector() -> PersonPostureDetector:
    return PersonPostureDetector()


def test_an_upright_person_stands_and_the_same_photo_turned_lies(detector: PersonPostureDetector):
    astronaut = photo("astronaut")
    upright = detector.detect(astronaut)
    assert len(upright) == 1 and upright[0].score > 0.7
    assert upright[0].tilt_deg < 30 and upright[0].lying(30) == 0.0
    for turn in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
        lying = detector.detect(cv2.rotate(astronaut, turn))
        assert len(lying) == 1 and lying[0].score > 0.7
        assert 60 < lying[0].tilt_deg < 120 and lying[0].lying(30) == 1.0


def test_boxes_stay_inside_frames_of_any_shape(detector: PersonPostureDetector):
    wide = np.zeros((720, 1280, 3), np.uint8)
    wide[100:612, 600:1112] = photo("astronaut")
    (person,) = detector.detect(wide)
    x, y, width, height = person.box
    assert 0 <= x and 0 <= y and x + width <= 1280 and y + height <= 720
    assert 600 - 60 <= x + width / 2 <= 1112 + 60  # centred on the person's hip, in the frame's own pixels


def test_an_empty_scene_holds_nobody(detector: PersonPostureDetector):
    assert detector.detect(np.full((360, 640, 3), 128, np.uint8)) == []
    assert detector.detect(cv2.resize(photo("coffee"), (640, 360))) == []


def test_lying_is_graded_near_the_limit():
    person = lambda tilt: Person((0, 0, 10, 10), 0.9, tilt)  # noqa: E731
    assert person(90).lying(30) == person(65).lying(30) == person(115).lying(30) == 1.0
    assert person(52.5).lying(30) == pytest.approx(0.5)
    assert person(40).lying(30) == person(0).lying(30) == person(180).lying(30) == 0.0
    assert person(170).lying(30) == 0.0  # upside down is not lying
    assert PersonPostureDetector.name in PersonPostureDetector().version


@pytest.mark.parametrize("x", [100, 900])
def test_tiles_find_people_too_small_for_the_whole_frame(x: int):
    small = cv2.resize(photo("astronaut"), (180, 180), interpolation=cv2.INTER_AREA)
    tiled = PersonPostureDetector(tiles=True)
    for person, lying in ((small, False), (cv2.rotate(small, cv2.ROTATE_90_CLOCKWISE), True)):
        frame = np.full((720, 1280, 3), 90, np.uint8)
        frame[100:280, x : x + 180] = person
        (found,) = tiled.detect(frame)
        assert found.score > 0.7 and found.lying(30) == (1.0 if lying else 0.0)
        assert found.box[0] <= x + 90 <= found.box[0] + found.box[2]  # in the frame's pixels, not the tile's


def test_loading_the_runtime_prints_nothing_on_stderr():
    """A node's log is structured: the runtime's "Created TensorFlow Lite XNNPACK delegate" line, which it writes to
    file descriptor 2 from C++, must not appear there, and the detector must still work."""
    script = (
        "import numpy as np; from engines.posture import PersonPostureDetector;"
        "from streamer.demo.scenes import photo;"
        "print(len(PersonPostureDetector().detect(photo('astronaut'))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "1"
    assert "XNNPACK" not in done.stderr and "TensorFlow Lite" not in done.stderr, done.stderr

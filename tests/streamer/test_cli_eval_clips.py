"""``vigil eval truth.json``: labelled clips streamed through decode, regions, trained heads or cosine, and the alert
policy; the report gives events found, detection delay and false alarms, per mode, and is saved as JSON. A bad truth
file is refused with exit code 2 before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from tests.fixtures.cli import Vigil

SIZE = (640, 360)


@pytest.fixture
def truth(tmp_path: Path, clip_factory) -> Path:
    """Two clips: a rocket launch from 3 s to 7 s after a coffee cup, and a cup and a cat only (must stay quiet)."""
    encoding = ClipEncoding(fps=10, gop=10)
    scene = lambda name, seconds: (letterbox(photo(name), SIZE, 1.0), seconds)  # noqa: E731
    clips = {
        "launch": clip_factory.scenes(
            "eval-launch", [scene("coffee", 3), scene("rocket", 4), scene("chelsea", 3)], encoding
        ),
        "quiet": clip_factory.scenes("eval-quiet", [scene("coffee", 4), scene("chelsea", 4)], encoding),
    }
    rocket = photo("rocket")
    crops = [rocket[0:330, 100:420], rocket[40:400, 150:450], rocket[:, 60:560]]
    durations = {"launch": 10.0, "quiet": 8.0}
    return write_truth(tmp_path / "dataset", "rocket", crops, clips, {"launch": [[3.0, 7.0]]}, durations)


def write_truth(
    folder: Path,
    label: str,
    references: list[np.ndarray],
    clips: dict[str, Path],
    truth: dict[str, list[list[float]]],
    durations: dict[str, float] | None = None,
) -> Path:
    """A truth file in ``folder``: the clips, ``label``'s reference photos, its spans per clip (the other clips must
    stay quiet)."""
    (folder / "refs").mkdir(parents=True)
    refs = []
    for number, image in enumerate(references):
        refs.append(f"refs/{label}-{number}.png")
        cv2.imwrite(str(folder / refs[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    entries = []
    for name, clip in clips.items():
        (folder / f"{name}.mp4").write_bytes(Path(clip).read_bytes())
        entry = {
            "name": name,
            "video": f"{name}.mp4",
            "kind": "anomaly",
            "refs": {label: refs},
            "truth": {label: truth[name]} if name in truth else {},
            "negative_for": [] if name in truth else [label],
        }
        if durations:
            entry["duration_s"] = durations[name]
        entries.append(entry)
    (folder / "truth.json").write_text(json.dumps({"e2e": entries}))
    return folder / "truth.json"


@pytest.fixture
def vigil(run_vigil: Vigil, model_cache_dir: Path) -> Vigil:
    Path("vigil.yaml").write_text(
        f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n"
        "adaptation: {views_per_reference: 6}\n"
    )
    return run_vigil


def test_clips_are_scored_by_events_with_and_without_adaptation(vigil: Vigil, truth: Path):
    result = vigil("eval", str(truth), "--compare", "--json", "--output", "clips.json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert json.loads(Path("clips.json").read_text()) == report  # saved as printed
    assert set(report["modes"]) == {"adapted", "cosine"}
    adapted = report["modes"]["adapted"]
    rocket = adapted["categories"]["rocket"]
    assert adapted["clips"] == 2 and adapted["keyframes"] >= 16 and len(adapted["adaptations"]) == 1
    assert (rocket["events"], rocket["detected"], rocket["false_alarms"]) == (1, 1, 0)
    assert -0.5 <= rocket["median_delay_s"] <= 5.0  # the first keyframes of the launch, after a 2-of-3 vote
    assert rocket["negative_s"] == pytest.approx(6.0 + 8.0, abs=0.5)  # the footage outside the launch
    assert rocket["scores_in_truth"]["p50"] > rocket["scores_elsewhere"]["p95"]
    assert report["modes"]["cosine"]["adaptations"] == []  # the same clips, references matched by cosine only


@pytest.mark.parametrize("kinds", ["[face]", "[face, anomaly]"])
def test_confirmation_bursts_are_emulated_on_the_clip_clock(vigil: Vigil, truth: Path, kinds: str):
    """1-s GOP: without bursts the 2-of-3 vote needs the launch's next keyframe, 1 s after it starts; when bursts
    confirm anomalies too (not the default), the frames after its first keyframe are decoded and voted on, as a live
    camera would."""
    with Path("vigil.yaml").open("a") as config:
        config.write(f"confirm: {{kinds: {kinds}}}\n")
    result = vigil("eval", str(truth), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)["modes"]["adapted"]
    rocket = report["categories"]["rocket"]
    assert (rocket["events"], rocket["detected"], rocket["false_alarms"]) == (1, 1, 0), rocket
    assert report["keyframes"] == pytest.approx(18, abs=1)  # bursts add frames, never keyframes
    if "anomaly" in kinds:
        assert 0 < report["burst_frames"] <= 4 * 6  # within the per-minute budget: 6 bursts of 4 frames
        assert rocket["median_delay_s"] < 1.0
    else:
        assert report["burst_frames"] == 0
        assert rocket["median_delay_s"] >= 1.0


def test_phases_replay_the_clips_with_their_keyframes_moved(vigil: Vigil, truth: Path):
    result = vigil("eval", str(truth), "--phases", "2", "--json", "--output", "clips.json")
    assert result.code == 0, result.err
    report = json.loads(result.out)["modes"]["adapted"]
    recorded, moved = report["phases"]
    assert (recorded["phase"], moved["phase"]) == (0.0, 0.5)
    assert recorded["overall"] == report["overall"] and recorded["keyframes"] == report["keyframes"]
    assert moved["keyframes"] == recorded["keyframes"] + 2  # 0, 0.5, 1.5 ...: one more keyframe per clip
    before, after = recorded["categories"]["rocket"], moved["categories"]["rocket"]
    assert before["detected"] == after["detected"] == 1 and before["false_alarms"] == after["false_alarms"] == 0
    assert after["median_delay_s"] == pytest.approx(before["median_delay_s"] + 0.5, abs=0.05)  # seen 0.5 s later
    table = vigil("eval", str(truth), "--phases", "2", "--output", "clips.json").out
    assert "keyframe phases" in table and "adapted over 2 keyframe phases: 1-1 of 1 events" in table


def test_the_table_compares_the_modes(vigil: Vigil, truth: Path):
    result = vigil("eval", str(truth), "--no-adapt", "--output", "clips.json")
    assert result.code == 0, result.err
    assert "cosine" in result.out and "rocket" in result.out and "adapted" not in result.out


def test_a_truth_file_naming_a_missing_clip_is_refused_before_any_model_loads(vigil: Vigil, truth: Path):
    document = json.loads(truth.read_text())
    document["e2e"][0]["video"] = "nowhere.mp4"
    truth.write_text(json.dumps(document))
    result = vigil("eval", str(truth))
    assert result.code == 2 and "nowhere.mp4" in result.err and "file not found" in result.err


@pytest.fixture
def fall_truth(tmp_path: Path, clip_factory) -> Path:
    """A person standing for 3 s, then lying on the floor for 4 s (the photo turned), standing for 5 s, lying again
    for 5 s and standing: two falls; and a clip of the same person standing only (must stay quiet). The fall
    references are ordinary photos."""
    encoding = ClipEncoding(fps=10, gop=10)
    astronaut = photo("astronaut")
    standing = (letterbox(astronaut, SIZE, 1.0), 3)
    lying = (letterbox(cv2.rotate(astronaut, cv2.ROTATE_90_CLOCKWISE), SIZE, 1.0), 5)
    clips = {
        "fall": clip_factory.scenes(
            "eval-fall", [standing, (lying[0], 4), (standing[0], 5), lying, standing], encoding
        ),
        "standing": clip_factory.scenes("eval-standing", [(standing[0], 8)], encoding),
    }
    references = [photo("camera"), photo("coffee")]
    return write_truth(tmp_path / "falls", "fall", references, clips, {"fall": [[3.0, 7.0], [12.0, 17.0]]})


def test_a_fall_is_found_by_posture_and_a_standing_person_stays_quiet(vigil: Vigil, fall_truth: Path):
    result = vigil("eval", str(fall_truth), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)["modes"]["adapted"]
    fall = report["categories"]["fall"]
    assert (fall["events"], fall["detected"], fall["false_alarms"]) == (2, 2, 0), fall
    # The second fall comes while the first one's alert is still open: it is reported as an update with its picture.
    messages = [(a["event"], a["t"]) for a in report["alerts"] if a["clip"] == "fall"]
    assert [event for event, _ in messages] == ["open", "update"], messages
    assert 12.0 <= messages[1][1] <= 17.0
    assert fall["median_delay_s"] <= 3.0
    assert fall["scores_in_truth"]["p50"] >= 0.7 > fall["scores_elsewhere"]["p95"]  # posture scores, not cosine

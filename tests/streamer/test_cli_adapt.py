"""``vigil adapt``: trains the anomaly entries' heads now, stores them (audited), skips unchanged inputs, says so when
nothing can be adapted; ``vigil watchlist add`` trains an anomaly entry's heads at once; ``vigil watchlist show`` then
says how the entry is matched."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from streamer.demo.scenes import photo
from tests.fixtures.cli import Vigil


@pytest.fixture
def vigil(run_vigil: Vigil, model_cache_dir: Path) -> Vigil:
    Path("vigil.yaml").write_text(
        f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n"
        "adaptation: {views_per_reference: 6}\n"
    )
    rocket = photo("rocket")
    for number, crop in enumerate([rocket[0:330, 100:420], rocket[40:400, 150:450]]):
        cv2.imwrite(f"rocket-{number}.png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    cv2.imwrite("cup.png", cv2.cvtColor(photo("coffee"), cv2.COLOR_RGB2BGR))
    return run_vigil


def test_adapt_trains_once_stores_the_heads_and_show_reports_them(vigil: Vigil):
    added = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "Rocket", "rocket-0.png", "rocket-1.png", "--no-adapt",
        "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    entry_id = json.loads(added.out)["entry"]["id"]
    vigil("watchlist", "add", "--kind", "anomaly", "--label", "Cup", "cup.png")  # one photo: stays on cosine

    trained = vigil("adapt", "--json")
    assert trained.code == 0, trained.err
    report = json.loads(trained.out)
    (head,) = report["adaptation"]["entries"]  # the cup has too few photos for a head
    assert report["outcome"] == "trained" and head["id"] == entry_id and head["threshold"] >= 0.8
    assert head["advice"].startswith("only 2 photos")  # none held back: its recall flatters it
    again = json.loads(vigil("adapt", "--json").out)
    assert again["outcome"] == "unchanged" and again["adaptation"]["version"] == report["adaptation"]["version"]
    assert json.loads(vigil("adapt", "--force", "--json").out)["outcome"] == "trained"

    shown = json.loads(vigil("watchlist", "show", entry_id[:8], "--json").out)
    assert shown["adaptation"]["version"] == report["adaptation"]["version"]
    assert shown["adaptation"]["threshold"] == head["threshold"]
    table = vigil("watchlist", "show", entry_id[:8])
    assert "matched by trained head" in table.out and report["adaptation"]["version"] in table.out
    assert "not used: matched by its trained head" in table.out  # the entry's cosine threshold
    assert shown["adaptation"]["advice"] == head["advice"] and "advice: only 2 photos" in table.out
    assert "Rocket (" in vigil("adapt", "--force").out.split("heads (validation")[1]  # the advice under the table


def test_adding_an_anomaly_entry_or_a_negative_trains_the_heads_at_once_unless_told_not_to(vigil: Vigil):
    added = vigil("watchlist", "add", "--kind", "anomaly", "--label", "Rocket", "rocket-0.png", "rocket-1.png")
    assert added.code == 0, added.err
    assert "created" in added.out and "trained and stored" in added.out and "Rocket" in added.out  # the heads table
    stored = json.loads(vigil("adapt", "--json").out)
    assert stored["outcome"] == "unchanged"  # `vigil run` started now serves it from its first keyframe

    cup = json.loads(vigil("watchlist", "add", "--kind", "anomaly", "--label", "Cup", "cup.png", "--json").out)
    assert "training" not in cup  # one photo: it stays on cosine, nothing to train
    rocket, cup = photo("rocket"), photo("coffee")
    for name, image in {
        "rocket-2": rocket[:, 60:560],
        "rocket-3": rocket[100:, 200:400],
        "cup-2": cup[50:, 50:],
        "cup-3": cup[:-50, :-50],
    }.items():
        cv2.imwrite(f"{name}.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    skipped = vigil("watchlist", "add", "--kind", "anomaly", "--label", "Cup", "cup-2.png", "cup-3.png", "--no-adapt",
                    "--json")  # fmt: skip
    assert skipped.code == 0, skipped.err
    assert "training" not in json.loads(skipped.out)
    assert json.loads(vigil("adapt", "--json").out)["outcome"] == "trained"  # left to `vigil adapt` (or the node)

    again = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "Launch", "rocket-2.png", "rocket-3.png", "--json"
    )
    assert again.code == 0, again.err
    training = json.loads(again.out)["training"]
    assert training["outcome"] == "trained" and len(training["adaptation"]["entries"]) == 3

    launch = json.loads(again.out)["entry"]["id"]
    negative = vigil("watchlist", "add-negative", launch[:8], "cup.png", "--json")  # a look-alike: the heads relearn
    assert negative.code == 0, negative.err
    relearnt = json.loads(negative.out)["training"]
    assert relearnt["outcome"] == "trained" and relearnt["adaptation"]["version"] != training["adaptation"]["version"]


def test_a_training_that_fails_after_an_enrollment_says_why_and_keeps_the_entry(vigil: Vigil):
    Path("data/archive").mkdir(parents=True)
    Path("data/archive/keyframes.db").write_bytes(b"this is no SQLite database" * 100)  # a damaged archive
    added = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "Rocket", "rocket-0.png", "rocket-1.png", "--json"
    )
    assert added.code == 0, added.err
    report = json.loads(added.out)
    assert report["training"]["outcome"] == "failed" and "vigil adapt" in report["training"]["detail"]
    listed = json.loads(vigil("watchlist", "list", "--json").out)
    assert [entry["label"] for entry in listed] == ["Rocket"]  # stored all the same


def test_nothing_to_adapt_exits_1_and_says_why(vigil: Vigil):
    vigil("watchlist", "add", "--kind", "anomaly", "--label", "Cup", "cup.png")
    result = vigil("adapt")
    assert result.code == 1 and "nothing" in result.out and "2 or more photos" in result.out


def test_faces_are_not_adapted(vigil: Vigil):
    result = vigil("adapt", "--kind", "face")
    assert result.code == 2 and "only anomaly entries are adapted" in result.err


def test_an_entry_matched_by_posture_says_so_instead_of_showing_its_unused_head(vigil: Vigil):
    for number, name in enumerate(["camera", "coffee"]):
        cv2.imwrite(f"fall-{number}.png", cv2.cvtColor(photo(name), cv2.COLOR_RGB2BGR))
    added = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "Fall", "fall-0.png", "fall-1.png", "--no-adapt", "--json"
    )
    entry_id = json.loads(added.out)["entry"]["id"]
    vigil("watchlist", "add", "--kind", "anomaly", "--label", "Rocket", "rocket-0.png", "rocket-1.png", "--no-adapt")
    assert vigil("adapt").code == 0

    shown = json.loads(vigil("watchlist", "show", entry_id[:8], "--json").out)
    posture = {"threshold": 0.7, "lying_within_deg": 30.0, "after_standing_threshold": 0.55}
    assert shown["adaptation"] is None and shown["posture"] == posture
    table = vigil("watchlist", "show", entry_id[:8])
    assert "matched by posture" in table.out and "trained head" not in table.out
    assert "not used: matched by posture" in table.out
    assert "0.55 where someone stood a keyframe before" in table.out

"""Few-shot adaptation on real photos with the real scene model: a head trained with the camera's own background
separates the entry from that background where cosine similarity cannot; artefacts are deterministic, stored on both
engines, audited, and refused when corrupt."""

from __future__ import annotations

import dataclasses
import threading

import cv2
import numpy as np
import pytest
import skimage.data

from engines.regions import RegionGrid
from engines.scene import SceneEmbedder
from tests.watchlists.samples import encode
from watchlists import adaptation_training
from watchlists.adaptation import Adaptation
from watchlists.adaptation_training import (
    EntryExamples,
    HeadTrainer,
    NothingToAdapt,
    TrainingCancelled,
    TrainingSettings,
    examples_from_store,
)
from watchlists.enroll import Enroller
from watchlists.store import WatchlistStore

GRID = RegionGrid.parse("3x2")
FAST = TrainingSettings(views_per_reference=8, views_per_negative=4)
COSINE_DEFAULT = 0.75  # watchlist.default_threshold.anomaly
ROCKET = skimage.data.rocket()  # 427x640: the launch on the left, sky and smoke on the right
REFERENCES = [ROCKET[0:330, 100:420], ROCKET[40:400, 150:450], ROCKET[:, 60:560], ROCKET[100:427, 200:400]]
CAMERA_VIEW = ROCKET[:, 430:]  # what this camera normally sees: the same sky and smoke, no rocket


def camera_frame(seed: int, *, rocket: bool) -> np.ndarray:
    """A 1280x720 keyframe of the camera's view (a slightly different framing per seed), with the rocket in it."""
    rng = np.random.default_rng(seed)
    height, width = CAMERA_VIEW.shape[:2]
    scale = rng.uniform(0.8, 1.0)
    crop_h, crop_w = int(height * scale), int(width * scale)
    y, x = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    frame = cv2.resize(CAMERA_VIEW[y : y + crop_h, x : x + crop_w], (1280, 720))
    if rocket:
        thing = cv2.resize(REFERENCES[0], (280, 290))
        top, left = int(rng.integers(0, 720 - 290)), int(rng.integers(0, 1280 - 280))
        frame[top : top + 290, left : left + 280] = thing
    return np.ascontiguousarray(frame)


def regions(embedder: SceneEmbedder, frames: list[np.ndarray]) -> np.ndarray:
    """``(frames, 7, dim)``: each frame whole and as the 3x2 windows, as the pipeline embeds keyframes."""
    return embedder.embed_regions(frames, GRID).vectors.reshape(len(frames), GRID.per_frame, -1)


@pytest.fixture(scope="module")
def trained(scene_embedder: SceneEmbedder) -> tuple[Adaptation, np.ndarray]:
    """A rocket head trained with 12 archived keyframes of the camera's normal view as background."""
    background = regions(scene_embedder, [camera_frame(seed, rocket=False) for seed in range(12)])
    entry = EntryExamples("e" * 32, "Rocket launch", REFERENCES, [f"{i:064x}" for i in range(len(REFERENCES))])
    adaptation = HeadTrainer(scene_embedder, FAST).train(
        [entry], background.reshape(-1, background.shape[-1]), revision=7, kind="anomaly"
    )
    return adaptation, background


def test_the_head_separates_the_entry_from_the_cameras_background_where_cosine_does_not(scene_embedder, trained):
    adaptation, _ = trained
    normal = regions(scene_embedder, [camera_frame(100 + seed, rocket=False) for seed in range(6)])  # unseen framings
    events = regions(scene_embedder, [camera_frame(200 + seed, rocket=True) for seed in range(6)])
    references = scene_embedder.embed(REFERENCES)
    cosine_normal = (normal @ references.T).max(axis=(1, 2))
    cosine_events = (events @ references.T).max(axis=(1, 2))
    assert cosine_normal.max() >= COSINE_DEFAULT  # cosine alerts on the camera's plain view ...
    assert cosine_normal.max() > cosine_events.min() - 0.05  # ... and no cosine threshold gives a usable margin
    (head,) = adaptation.heads
    head_normal = adaptation.scores(normal.reshape(-1, normal.shape[-1])).reshape(6, -1).max(axis=1)
    head_events = adaptation.scores(events.reshape(-1, events.shape[-1])).reshape(6, -1).max(axis=1)
    assert head_normal.max() < head.threshold  # the camera's view never passes its head ...
    assert (head_events >= head.threshold).sum() >= 5  # ... the rocket does (a 2-of-3 vote opens on it)
    head_margin = head_events.min() - head_normal.max()
    assert head_margin > cosine_events.min() - cosine_normal.max()  # and a wider margin than cosine's
    assert 0.0 <= head_normal.min() and head_events.max() <= 1.0  # probability-like scores


def test_an_adaptation_names_its_inputs_and_reads_back_identically(scene_embedder, trained):
    adaptation, background = trained
    assert adaptation.model_version == scene_embedder.version and adaptation.watchlist_revision == 7
    assert adaptation.background == 12 * GRID.per_frame and adaptation.version == adaptation.data_digest[:12]
    (head,) = adaptation.heads
    assert head.references == 4 and 0.5 <= head.threshold <= 0.99 and head.validation_fpr <= 0.01
    copy = Adaptation.from_bytes(adaptation.to_bytes())
    assert copy.summary() == adaptation.summary()
    np.testing.assert_array_equal(copy.weights, adaptation.weights)
    entry = EntryExamples("e" * 32, "Rocket launch", REFERENCES, [f"{i:064x}" for i in range(len(REFERENCES))])
    trainer = HeadTrainer(scene_embedder, FAST)
    flat = background.reshape(-1, background.shape[-1])
    assert trainer.digest([entry], flat, kind="anomaly") == adaptation.data_digest  # same inputs, same name
    assert trainer.digest([entry], flat[:-1], kind="anomaly") != adaptation.data_digest  # other background


def test_a_node_that_cannot_read_the_imagenet_classifier_keeps_an_adaptation_trained_with_it(
    scene_embedder, trained, monkeypatch
):
    adaptation, background = trained  # trained here, where torch reads the classifier
    entry = EntryExamples("e" * 32, "Rocket launch", REFERENCES, [f"{i:064x}" for i in range(len(REFERENCES))])
    flat = background.reshape(-1, background.shape[-1])
    monkeypatch.setattr(adaptation_training, "imagenet_classifier", lambda model_name: None)  # as without torch
    without_torch = HeadTrainer(scene_embedder, FAST)
    own = without_torch.digest([entry], flat, kind="anomaly")
    assert own != adaptation.data_digest  # what it would train has no concepts, and is named apart ...
    assert without_torch.is_current(adaptation.data_digest, [entry], flat, kind="anomaly")  # ... yet it keeps this
    assert without_torch.is_current(own, [entry], flat, kind="anomaly")
    monkeypatch.undo()
    with_torch = HeadTrainer(scene_embedder, FAST)
    assert not with_torch.is_current(own, [entry], flat, kind="anomaly")  # a node with torch retrains that one
    assert with_torch.is_current(adaptation.data_digest, [entry], flat, kind="anomaly")


def test_an_admin_is_advised_when_a_head_has_few_photos_or_misses_its_held_back_ones(trained):
    adaptation, _ = trained
    (head,) = adaptation.heads
    assert head.advice.startswith("only 4 photos")  # none held back: its recall is on views of photos it learnt
    assert adaptation.summary()["entries"][0]["advice"] == head.advice
    assert adaptation.entry_summary(head.entry_id)["advice"] == head.advice
    weak = dataclasses.replace(head, references=5, validation_recall=0.08)
    assert weak.advice.startswith("finds 8% of views of its held-back photos")
    assert dataclasses.replace(head, references=15, validation_recall=0.5).advice is None
    assert dataclasses.replace(head, references=6, validation_recall=float("nan")).advice is None


def test_corrupt_adaptation_bytes_are_refused_by_name():
    with pytest.raises(ValueError, match="not a Vigil adaptation"):
        Adaptation.from_bytes(b"PK\x03\x04 this is no adaptation")


def test_entries_with_too_few_photos_are_left_to_cosine_and_none_at_all_is_an_error(scene_embedder):
    trainer = HeadTrainer(scene_embedder, FAST)
    with pytest.raises(NothingToAdapt, match="2 or more photos"):
        trainer.train([EntryExamples("a" * 32, "Rocket", REFERENCES[:1])], None, revision=1, kind="anomaly")


def test_a_cancelled_training_stops_between_steps(scene_embedder):
    cancel = threading.Event()
    cancel.set()
    trainer = HeadTrainer(scene_embedder, FAST, cancel=cancel)
    with pytest.raises(TrainingCancelled):
        trainer.train([EntryExamples("a" * 32, "Rocket", REFERENCES)], None, revision=1, kind="anomaly")


def test_adaptations_are_stored_with_the_watchlist_audited_and_the_newest_served(store: WatchlistStore, trained):
    adaptation, _ = trained
    assert store.latest_adaptation("anomaly", adaptation.model_version) is None
    store.save_adaptation(adaptation, actor="test")
    revision = store.revision()
    assert store.adaptation_version("anomaly", adaptation.model_version) == adaptation.version
    assert store.adaptation_version("anomaly", "other@000000000000") is None  # never another model's
    loaded = store.latest_adaptation("anomaly", adaptation.model_version)
    assert loaded is not None and loaded.summary() == adaptation.summary()
    for _ in range(4):
        store.save_adaptation(adaptation, actor="test")
    assert store.revision() == revision  # deriving heads is not a watchlist change (no retraining loop)
    (record, *_rest) = store.audit()
    assert record.action == "adaptation.trained" and record.detail["version"] == adaptation.version


def test_training_material_is_read_from_the_store_with_its_revision(store: WatchlistStore, scene_embedder, tmp_path):
    files = []
    for number, photo in enumerate([ROCKET, ROCKET[:, ::-1]]):
        files.append(tmp_path / f"rocket-{number}.png")
        files[-1].write_bytes(encode(np.ascontiguousarray(photo), "PNG"))
    Enroller(store, scene_embedder, show_progress=False).enroll("anomaly", "Rocket", files, actor="test")
    revision, (entry,) = examples_from_store(store, "anomaly")
    assert revision == store.revision() and entry.label == "Rocket" and len(entry.references) == 2
    assert [photo.shape for photo in entry.references] == [ROCKET.shape] * 2  # under 800 px: kept as they are
    assert sorted(entry.reference_sha256) == sorted(image.sha256 for image in store.entry_images(entry.entry_id))


def test_every_generic_photo_is_also_learnt_at_night_under_drawn_lights(scene_embedder, trained):
    from watchlists.generic_negatives import generic_negative_images

    vectors, sources = HeadTrainer(scene_embedder, FAST)._generic_views()  # embedded once: ``trained`` did it
    per_photo = FAST.views_per_generic + FAST.night_views_per_generic
    assert FAST.night_views_per_generic > 0
    assert len(vectors) == len(generic_negative_images()) * per_photo
    assert np.bincount(sources).tolist() == [per_photo] * len(generic_negative_images())


def test_an_entry_matched_by_posture_gets_no_head_but_its_photos_teach_the_others(scene_embedder):
    """Its head would go unused (the posture detector matches it), yet its photos are still what the other entries
    are not: here they show the camera's own view, and the rocket head learns to score that view lower."""
    rocket = EntryExamples("r" * 32, "Rocket launch", REFERENCES, [f"{i:064x}" for i in range(len(REFERENCES))])
    views = [CAMERA_VIEW[:300, :150], CAMERA_VIEW[100:, 20:], CAMERA_VIEW[50:350, 30:190], CAMERA_VIEW]
    fall = EntryExamples("f" * 32, " Fall ", views, [f"{i + 10:064x}" for i in range(len(views))])
    settings = dataclasses.replace(FAST, posture_labels=("fall",))
    taught = HeadTrainer(scene_embedder, settings).train([fall, rocket], None, revision=1, kind="anomaly")
    alone = HeadTrainer(scene_embedder, settings).train([rocket], None, revision=1, kind="anomaly")
    assert [head.label for head in taught.heads] == ["Rocket launch"]
    normal = regions(scene_embedder, [camera_frame(300 + seed, rocket=False) for seed in range(4)])
    normal = normal.reshape(-1, normal.shape[-1])
    assert taught.scores(normal).mean() < alone.scores(normal).mean() - 0.05
    no_other = "labelled fall are matched by posture, and no other anomaly entry has 2 or more photos"
    with pytest.raises(NothingToAdapt, match=no_other):
        HeadTrainer(scene_embedder, settings).train([fall], None, revision=1, kind="anomaly")
    with_head = HeadTrainer(scene_embedder, FAST).train([fall, rocket], None, revision=1, kind="anomaly")
    assert [head.label for head in with_head.heads] == [" Fall ", "Rocket launch"]  # posture off: a head again

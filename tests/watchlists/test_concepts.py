"""ImageNet concepts: MobileNetV2's own classifier, read from the shipped weights, names what real photos show, and
the heads of entries whose photos it recognises also pass on it; entries it cannot name keep their head alone."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import skimage.data

from engines.imagenet_classifier import imagenet_classifier
from engines.scene import SceneEmbedder
from tests.watchlists.test_adaptation import FAST, REFERENCES, camera_frame, regions
from watchlists.adaptation import Adaptation
from watchlists.adaptation_training import EntryExamples, HeadTrainer, TrainingSettings
from watchlists.concepts import concept_threshold, reference_concepts

CAT = skimage.data.chelsea()  # 300x451, a tabby cat's head on a wooden floor
CAT_REFERENCES = [CAT, CAT[:, ::-1], CAT[20:280, 40:420], CAT[0:260, 100:451]]


def entries() -> list[EntryExamples]:
    return [
        EntryExamples("c" * 32, "Cat", CAT_REFERENCES, [f"{i:064x}" for i in range(4)]),
        EntryExamples("e" * 32, "Rocket launch", REFERENCES, [f"{i + 4:064x}" for i in range(4)]),
    ]


@pytest.fixture(scope="module")
def adapted(scene_embedder: SceneEmbedder) -> Adaptation:
    background = regions(scene_embedder, [camera_frame(seed, rocket=False) for seed in range(6)])
    return HeadTrainer(scene_embedder, FAST).train(
        entries(), background.reshape(-1, background.shape[-1]), revision=3, kind="anomaly"
    )


def test_the_shipped_classifier_names_real_photos_from_unit_embeddings(scene_embedder):
    classifier = imagenet_classifier("mobilenet_v2")
    assert classifier is not None and len(classifier.names) == 1000
    photos = [skimage.data.coffee(), CAT, skimage.data.rocket()]
    probabilities = classifier.probabilities(scene_embedder.embed(photos))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    best = [classifier.names[i] for i in probabilities.argmax(axis=1)]
    assert best[0] == "espresso" and probabilities[0].max() > 0.9
    assert best[1] in {"Egyptian cat", "tabby", "tiger cat"}
    assert probabilities[2].max() < 0.5  # a launch pad: ImageNet has no confident name for it
    assert imagenet_classifier("dlib_resnet128") is None  # a face model has no ImageNet classifier


def test_concepts_are_the_few_classes_holding_most_of_the_references_probability():
    photos = np.zeros((3, 10), np.float32)
    photos[:, 2], photos[:, 5], photos[:, 7] = [0.6, 0.5, 0.4], [0.3, 0.3, 0.3], [0.05, 0.1, 0.2]
    photos[:, 0] = 1 - photos.sum(axis=1)
    assert reference_concepts(photos, mass=0.8, most=4) == (2, 5)  # 0.5 + 0.3
    assert reference_concepts(photos, mass=0.8, most=1) == ()  # one class holds only 0.5
    assert reference_concepts(np.full((2, 10), 0.1, np.float32), mass=0.8, most=4) == ()  # spread out
    assert reference_concepts(np.empty((0, 10), np.float32), mass=0.8, most=4) == ()


def test_a_concept_threshold_sits_above_the_negatives_and_never_below_the_floor():
    negatives = np.linspace(0, 0.7, 1001)
    threshold = concept_threshold(negatives, target_fpr=0.001, floor=0.5)
    assert 0.69 < threshold and (negatives >= threshold).mean() <= 0.001
    assert concept_threshold(negatives[:500], target_fpr=0.001, floor=0.5) == 0.5
    assert concept_threshold(np.array([]), target_fpr=0.001, floor=0.5) == 0.5
    assert concept_threshold(np.array([1.0]), target_fpr=0.001, floor=0.5) == 0.99


def test_an_entry_whose_photos_imagenet_names_gets_concepts_and_one_it_cannot_name_does_not(adapted):
    cat, rocket = adapted.heads
    assert set(cat.concepts) >= {"Egyptian cat"} and len(cat.concepts) <= FAST.max_concepts
    assert 0.5 <= cat.concept_threshold <= 0.99
    assert rocket.concepts == () and rocket.concept_classes == () and np.isnan(rocket.concept_threshold)
    assert adapted.classifier is not None and adapted.classifier.shape == (1000, 1280)
    summary = adapted.summary()["entries"][0]
    assert summary["concepts"] == list(cat.concepts) and summary["concept_threshold"] == round(cat.concept_threshold, 4)


def test_either_the_head_or_the_concepts_can_reach_the_threshold_and_nothing_else_does(scene_embedder, adapted):
    cat_frame = camera_frame(300, rocket=False)
    cat_frame[360:660, 700:1151] = cv2.resize(CAT, (451, 300))  # a cat filling 15% of the camera's view
    plain = [camera_frame(400 + seed, rocket=False) for seed in range(4)]
    rows = regions(scene_embedder, [cat_frame, *plain]).reshape(-1, scene_embedder.dim)
    scores = adapted.scores(rows)
    cat, _ = adapted.heads
    concept = imagenet_classifier("mobilenet_v2").probabilities(rows)[:, list(cat.concept_classes)].sum(axis=1)
    logistic = 1 / (1 + np.exp(-(rows @ adapted.weights[0] + adapted.biases[0])))
    assert np.all(scores[:, 0] >= logistic - 1e-5)  # the head's own score is never lowered
    assert np.all(scores[concept >= cat.concept_threshold, 0] >= cat.threshold)
    quiet = (concept < cat.concept_threshold) & (logistic < cat.threshold)
    assert np.all(scores[quiet, 0] < cat.threshold)
    per_frame = scores[:, 0].reshape(5, -1).max(axis=1)
    assert per_frame[0] >= cat.threshold and np.all(per_frame[1:] < cat.threshold)  # the cat, not the plain view
    np.testing.assert_array_less(scores, 1.0 + 1e-6)


def test_concepts_travel_with_the_stored_adaptation(scene_embedder, adapted):
    copy = Adaptation.from_bytes(adapted.to_bytes())
    assert copy.summary() == adapted.summary()
    rows = regions(scene_embedder, [camera_frame(500, rocket=True)]).reshape(-1, scene_embedder.dim)
    np.testing.assert_allclose(copy.scores(rows), adapted.scores(rows), atol=2e-3)  # float16 classifier


def test_with_concepts_off_no_head_has_any_and_no_classifier_is_kept(scene_embedder):
    settings = TrainingSettings(views_per_reference=4, views_per_negative=2, concepts=False)
    adaptation = HeadTrainer(scene_embedder, settings).train(entries()[:1], None, revision=1, kind="anomaly")
    assert adaptation.heads[0].concepts == () and adaptation.classifier is None
    assert "classifier" not in np.load(io.BytesIO(adaptation.to_bytes())).files

"""Evaluation on a labelled folder: real photos and their augmentations through the real models; top-1, true and
false accepts per label, refused images counted by reason, and a dataset that cannot be evaluated named as such."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from engines.faces import FacePipeline
from engines.scene import SceneEmbedder
from tests.watchlists.evaluation_samples import AUGMENTATIONS, write_dataset
from watchlists.evaluation import evaluate
from watchlists.evaluation_dataset import DatasetError, EvaluationDataset

SCENES = ("astronaut", "coffee", "chelsea", "rocket")
STRANGERS = ("retina", "hubble_deep_field", "immunohistochemistry", "colorwheel")


@pytest.fixture(scope="module")
def scene_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four scenes (a reference and four augmented probes each) and four unrelated photos under ``_unknown``."""
    import skimage.data

    return write_dataset(
        tmp_path_factory.mktemp("scenes"),
        {name: getattr(skimage.data, name)() for name in SCENES},
        {name: getattr(skimage.data, name)() for name in STRANGERS},
    )


@pytest.fixture
def scene_copy(scene_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the scene dataset this test may change."""
    return Path(shutil.copytree(scene_dataset, tmp_path / "dataset"))


def test_augmented_scenes_are_told_apart_and_strangers_match_nothing(
    scene_dataset: Path, scene_embedder: SceneEmbedder
) -> None:
    report = evaluate(EvaluationDataset.read(scene_dataset), scene_embedder, kind="anomaly", threshold=0.75)

    assert (report.probes, report.unknown, report.rejected) == (16, 4, ())
    assert report.top1_accuracy is not None and report.top1_accuracy >= 0.9
    assert report.true_accept_rate is not None and report.true_accept_rate >= 0.9
    assert report.false_accept_rate is not None and report.false_accept_rate <= 0.05
    assert [(row.label, row.references, row.probes) for row in report.labels] == [
        (name, 1, len(AUGMENTATIONS)) for name in sorted(SCENES)
    ]
    scores = report.scores
    assert (len(scores.genuine), len(scores.impostor)) == (16, 20)  # impostors: every probe and stranger once
    assert scores.suggested_threshold is not None
    assert scores.impostor.max() < scores.suggested_threshold <= scores.genuine.min()


def test_a_threshold_under_the_impostor_scores_shows_false_accepts(
    scene_dataset: Path, scene_embedder: SceneEmbedder
) -> None:
    report = evaluate(EvaluationDataset.read(scene_dataset), scene_embedder, kind="anomaly", threshold=0.0)

    assert report.false_accept_rate == 1.0 and report.unknown_false_accepts == 4
    assert all(row.matched_by_others == 16 for row in report.labels)  # 12 other probes + 4 strangers
    assert report.true_accept_rate == 1.0


def test_a_mislabelled_probe_is_an_error_in_its_labels_row(scene_copy: Path, scene_embedder: SceneEmbedder) -> None:
    shutil.copy(scene_copy / "coffee" / "2-flip.jpg", scene_copy / "astronaut" / "9-mislabelled.jpg")

    report = evaluate(EvaluationDataset.read(scene_copy), scene_embedder, kind="anomaly", threshold=0.75)

    rows = {row.label: row for row in report.labels}
    astronaut = rows["astronaut"]
    assert (astronaut.probes, astronaut.top1_correct, astronaut.false_accepts) == (5, 4, 1)
    [error] = astronaut.errors
    assert (error.source, error.predicted) == ("astronaut/9-mislabelled.jpg", "coffee") and error.score > 0.9
    assert rows["coffee"].matched_by_others == 1 and not rows["coffee"].errors
    assert report.top1_accuracy == pytest.approx(16 / 17)


def test_unusable_files_are_counted_by_reason_not_raised(scene_copy: Path, scene_embedder: SceneEmbedder) -> None:
    (scene_copy / "rocket" / "5-notes.jpg").write_text("not a photo")
    (scene_copy / "rocket" / "6-cut.jpg").write_bytes((scene_copy / "rocket" / "1-crop.jpg").read_bytes()[:300])
    (scene_copy / "_unknown" / "empty.png").write_bytes(b"")

    report = evaluate(EvaluationDataset.read(scene_copy), scene_embedder, kind="anomaly", threshold=0.75)

    assert report.rejected_by_reason() == {"corrupt_image": 1, "unsupported_image_type": 2}
    assert [p.source for p in report.rejected] == ["rocket/5-notes.jpg", "rocket/6-cut.jpg", "_unknown/empty.png"]
    rocket = next(row for row in report.labels if row.label == "rocket")
    assert (rocket.probes, rocket.rejected) == (4, 2)
    assert (report.probes, report.unknown) == (16, 4)


def test_faces_are_told_apart_and_photos_without_a_usable_face_are_counted_by_reason(
    tmp_path: Path,
    face_photos: dict[str, np.ndarray],
    face_pipeline: FacePipeline,
    reference_images: dict[str, np.ndarray],
) -> None:
    root = write_dataset(
        tmp_path,
        {"astronaut": face_photos["astronaut"], "hopper": face_photos["hopper"]},
        {"cameraman": face_photos["cameraman"], "coffee": reference_images["coffee"]},
    )

    report = evaluate(EvaluationDataset.read(root), face_pipeline, kind="face", threshold=0.9)

    assert report.rejected_by_reason() == {"face_too_small": 1, "no_face_found": 1}  # cameraman: small, turned away
    assert (report.probes, report.unknown, report.top1_accuracy, report.false_accept_rate) == (8, 0, 1.0, 0.0)
    assert report.true_accept_rate is not None and report.true_accept_rate >= 0.9


def test_a_label_whose_references_are_all_refused_is_named(
    tmp_path: Path, face_photos: dict[str, np.ndarray], face_pipeline: FacePipeline
) -> None:
    root = write_dataset(tmp_path, {"astronaut": face_photos["astronaut"], "cameraman": face_photos["cameraman"]})

    with pytest.raises(DatasetError, match=r"no usable reference image for label cameraman") as raised:
        evaluate(EvaluationDataset.read(root), face_pipeline, kind="face", threshold=0.9)

    assert "cameraman/0-reference.png" in str(raised.value) and raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("layout", "references", "message"),
    [
        (None, 1, "is not a folder"),
        ({"alice": 3}, 1, "needs at least 2 label folders to tell apart, found alice"),
        ({"alice": 3, "_unknown": 2}, 1, "found alice"),
        ({"alice": 3, "bob": 1, "carol": 0}, 1, "no probe left: bob (1 image), carol (0 images)"),
        ({"alice": 3, "bob": 2}, 2, "no probe left: bob (2 images)"),
        ({"alice": 3, "bob": 2}, 0, "--references must be at least 1"),
        ({"alice": 3, "bob": 2, ".hidden": 0}, 1, None),
    ],
    ids=[
        "missing",
        "one label",
        "unknown is no label",
        "labels without probes",
        "all references",
        "no references",
        "hidden folders skipped",
    ],
)
def test_a_dataset_is_checked_before_anything_is_embedded(
    tmp_path: Path, layout: dict[str, int] | None, references: int, message: str | None
) -> None:
    root = tmp_path / "dataset"
    for label, count in (layout or {}).items():
        (root / label).mkdir(parents=True)
        for number in range(count):
            (root / label / f"{number}.jpg").write_bytes(b"checked later")

    if message is None:
        dataset = EvaluationDataset.read(root, references=references)
        assert dataset.labels == ("alice", "bob")
        return
    with pytest.raises(DatasetError, match=re.escape(message)) as raised:
        EvaluationDataset.read(root, references=references)
    assert raised.value.exit_code == 2


def test_references_are_the_first_images_by_name(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "c.webp", "notes.txt"):
        for label in ("alice", "bob"):
            (tmp_path / label).mkdir(exist_ok=True)
            (tmp_path / label / name).write_bytes(b"x")

    dataset = EvaluationDataset.read(tmp_path, references=2)

    alice = dataset.per_label[0]
    assert ([p.name for p in alice.references], [p.name for p in alice.probes]) == (["a.jpg", "b.png"], ["c.webp"])
    assert dataset.unknown == ()

"""Enrollment with the real scene model: all-or-nothing on bad files, duplicates reported and skipped."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from engines.errors import EngineError
from engines.scene import SceneEmbedder
from tests.watchlists.samples import encode
from watchlists.enroll import Enroller
from watchlists.errors import EntryNotFoundError, ImagesRejectedError, InvalidEntryError, NoNewImagesError
from watchlists.images import read_image_file
from watchlists.sources import check_image_bytes
from watchlists.store import WatchlistStore


class RefusesSmallImages:
    """The real scene model behind a gate that refuses some images, as the face pipeline will refuse photos
    without one usable face (the face pipeline does not exist yet; this is its refusal path)."""

    def __init__(self, inner: SceneEmbedder, min_side: int) -> None:
        self.version, self.dim, self._inner, self._min_side = inner.version, inner.dim, inner, min_side

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        for image in images:
            if min(image.shape[:2]) < self._min_side:
                raise EngineError(f"no usable face in a {image.shape[1]}x{image.shape[0]} image", code="no_face_found")
        return self._inner.embed(images)


@pytest.fixture
def enroller(store: WatchlistStore, scene_embedder: SceneEmbedder) -> Enroller:
    return Enroller(store, scene_embedder, show_progress=False)


def _nothing_stored(store: WatchlistStore) -> bool:
    return store.list_entries() == [] and store.audit() == [] and store.revision() == 0


def test_enrolling_a_folder_stores_every_image_with_the_models_embedding(
    enroller: Enroller, store: WatchlistStore, scene_embedder: SceneEmbedder, reference_files: dict[str, Path]
) -> None:
    report = enroller.enroll("anomaly", "astronaut", [reference_files["astronaut"]], actor="alice", threshold=0.8)

    files = sorted(reference_files["astronaut"].iterdir())
    assert [Path(i.source) for i in report.added] == files and report.duplicates == ()
    assert report.model_version == scene_embedder.version and report.entry.image_count == 3
    stored = store.embeddings("anomaly", scene_embedder.version)
    expected = scene_embedder.embed([read_image_file(f).pixels for f in files])
    np.testing.assert_allclose(stored.vectors, expected, atol=1e-5)
    assert [store.image_bytes(i.id) for i in report.added] == [f.read_bytes() for f in files]
    [audit] = store.audit()
    assert (audit.action, audit.actor, audit.detail["threshold"]) == ("entry.created", "alice", 0.8)


def test_one_bad_file_refuses_the_whole_enrollment_with_a_reason_per_file(
    enroller: Enroller, store: WatchlistStore, reference_files: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "refs"
    shutil.copytree(reference_files["astronaut"], folder)
    (folder / "notes.jpg").write_text("not an image")
    (folder / "cut.jpg").write_bytes(reference_files["coffee"].read_bytes()[:5000])

    with pytest.raises(ImagesRejectedError) as refused:
        enroller.enroll("anomaly", "astronaut", [folder, tmp_path / "missing.png"], actor="alice")

    assert [(Path(p.source).name, p.code) for p in refused.value.problems] == [
        ("cut.jpg", "corrupt_image"),
        ("notes.jpg", "unsupported_image_type"),
        ("missing.png", "unreadable_file"),
    ]
    assert _nothing_stored(store)


def test_a_png_saved_as_jpg_is_enrolled_for_what_it_is(
    enroller: Enroller, reference_images: dict[str, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "rocket.jpg"
    path.write_bytes(encode(reference_images["rocket"], "PNG"))

    report = enroller.enroll("anomaly", "rocket", [path], actor="alice")

    assert report.added[0].media_type == "image/png"


def test_known_images_are_reported_and_skipped_and_copies_within_a_run_are_stored_once(
    enroller: Enroller, store: WatchlistStore, reference_files: dict[str, Path], tmp_path: Path
) -> None:
    astronaut = enroller.enroll("anomaly", "astronaut", [reference_files["astronaut"]], actor="alice").entry
    copy = tmp_path / "coffee-copy.jpg"
    shutil.copy(reference_files["coffee"], copy)
    known = reference_files["astronaut"] / "head.jpg"

    report = enroller.enroll("anomaly", "coffee", [reference_files["coffee"], known, copy], actor="alice")

    assert [Path(i.source) for i in report.added] == [reference_files["coffee"]]
    assert [(Path(d.source), d.entry_id) for d in report.duplicates] == [(known, astronaut.id), (copy, report.entry.id)]
    assert report.duplicates[1].image_id == report.added[0].id
    assert sum(e.image_count for e in store.list_entries()) == 4


def test_an_entry_of_only_known_images_is_refused_and_nothing_is_written(
    enroller: Enroller, store: WatchlistStore, reference_files: dict[str, Path]
) -> None:
    enroller.enroll("anomaly", "coffee", [reference_files["coffee"]], actor="alice")
    revision = store.revision()

    with pytest.raises(NoNewImagesError, match=r"coffee\.jpg: already in entry"):
        enroller.enroll("anomaly", "coffee again", [reference_files["coffee"]], actor="alice")

    assert len(store.list_entries()) == 1 and store.revision() == revision


def test_images_can_be_added_to_an_entry_and_a_rerun_adds_nothing(
    enroller: Enroller, store: WatchlistStore, reference_files: dict[str, Path]
) -> None:
    entry = enroller.enroll("anomaly", "animals", [reference_files["chelsea"]], actor="alice").entry

    first = enroller.add_images(entry.id, [reference_files["coffee"]], actor="bob")
    again = enroller.add_images(entry.id, [reference_files["coffee"]], actor="bob")

    assert first.entry.image_count == 2 and len(first.added) == 1
    assert again.added == () and again.model_version is None and len(again.duplicates) == 1
    assert [a.action for a in store.audit(entry.id)] == ["images.added", "entry.created"]


def test_images_the_model_refuses_are_reported_per_file_and_nothing_is_stored(
    store: WatchlistStore, scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray], tmp_path: Path
) -> None:
    sizes = {"a.png": 300, "tiny.png": 60, "b.png": 200, "small.png": 90, "c.png": 400}
    for name, side in sizes.items():
        (tmp_path / name).write_bytes(encode(np.ascontiguousarray(reference_images["astronaut"][:side, :side]), "PNG"))
    enroller = Enroller(store, RefusesSmallImages(scene_embedder, min_side=100), show_progress=False, batch_size=2)

    with pytest.raises(ImagesRejectedError) as refused:
        enroller.enroll("face", "jane", [tmp_path / n for n in sizes], actor="alice")

    assert [(Path(p.source).name, p.code) for p in refused.value.problems] == [
        ("tiny.png", "no_face_found"),
        ("small.png", "no_face_found"),
    ]
    assert _nothing_stored(store)


def test_entry_fields_and_the_entry_are_checked_before_any_file_is_read(enroller: Enroller, tmp_path: Path) -> None:
    missing = [tmp_path / "missing.png"]

    with pytest.raises(InvalidEntryError, match="threshold"):
        enroller.enroll("anomaly", "fire", missing, actor="alice", threshold=-3)
    with pytest.raises(EntryNotFoundError):
        enroller.add_images("f" * 32, missing, actor="alice")


def test_uploaded_bytes_enroll_like_files(enroller: Enroller, reference_images: dict[str, np.ndarray]) -> None:
    upload = check_image_bytes("upload:fire.jpg", encode(reference_images["coffee"], "JPEG"))

    report = enroller.enroll("anomaly", "coffee", [upload], actor="api:alice")

    assert report.added[0].source == "upload:fire.jpg" and report.added[0].sha256 == upload.sha256


def test_the_refusal_counts_every_file_given_including_ones_already_stored(
    store: WatchlistStore, scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray], tmp_path: Path
) -> None:
    sizes = {"stored.png": 300, "tiny.png": 60, "small.png": 90, "mini.png": 50}
    for name, side in sizes.items():
        (tmp_path / name).write_bytes(encode(np.ascontiguousarray(reference_images["astronaut"][:side, :side]), "PNG"))
    enroller = Enroller(store, RefusesSmallImages(scene_embedder, min_side=100), show_progress=False)
    enroller.enroll("face", "jane", [tmp_path / "stored.png"], actor="alice")

    with pytest.raises(ImagesRejectedError) as refused:
        enroller.enroll("face", "john", [tmp_path / n for n in sizes], actor="alice")

    assert refused.value.message.startswith("3 of 4 files refused, nothing stored:")

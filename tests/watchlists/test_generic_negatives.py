"""The generic negative set ships with Vigil: its own photos load as RGB images of a bounded size, every one is listed
with a source and a licence, and a built wheel carries them (a head trained from a pip install sees the same set)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

from watchlists.generic_negatives import (
    MAX_SIDE,
    SCIKIT_IMAGE_PHOTOS,
    SHIPPED_PHOTOS,
    generic_negative_images,
    shipped_photo_paths,
)

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED_SIDE = 480  # the photos are stored shrunk to this longest side, JPEG quality 85
LICENCES = {"public-domain", "CC0-1.0", "CC-BY-2.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "LGPL-3.0"}


def sources() -> list[dict[str, str]]:
    with (SHIPPED_PHOTOS / "SOURCES.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_photos_load_as_rgb_images_of_bounded_size() -> None:
    paths = shipped_photo_paths()
    assert len(paths) >= 28
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, path
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, path
        assert max(image.shape[:2]) <= SHIPPED_SIDE, path
        assert min(image.shape[:2]) >= 200, path
    assert sum(path.stat().st_size for path in SHIPPED_PHOTOS.iterdir()) < 10_000_000


def test_the_generic_set_holds_the_shipped_photos_next_to_the_others() -> None:
    images = generic_negative_images()
    assert len(images) >= len(SCIKIT_IMAGE_PHOTOS) + len(shipped_photo_paths())
    for image in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) <= MAX_SIDE
    # The shipped photos come last, in name order (the hold-out takes every fifth generic photo), decoded as RGB.
    last = cv2.imread(str(shipped_photo_paths()[-1]), cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(images[-1], last)


def test_sources_list_every_photo_with_a_source_and_a_licence() -> None:
    rows = sources()
    assert sorted(row["file"] for row in rows) == [path.name for path in shipped_photo_paths()]
    for row in rows:
        assert row["licence"] in LICENCES, row
        assert row["source"].strip() and row["author"].strip() and row["shows"].strip(), row


def test_a_built_wheel_ships_the_photos_and_their_sources(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, tree / name)
    for package in ("streamer", "engines", "watchlists"):
        shutil.copytree(REPOSITORY / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".", "-w", "dist"]
    subprocess.run(command, cwd=tree, check=True, capture_output=True, timeout=240)
    (wheel,) = (tree / "dist").glob("vigil-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"watchlists/generic_negative_photos/{row['file']}" for row in sources()}
    assert expected <= names
    assert "watchlists/generic_negative_photos/SOURCES.csv" in names

"""Enrollment sources: which files a folder contributes, and that every bad file is reported before any is used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.watchlists.samples import encode
from watchlists.errors import ImagesRejectedError
from watchlists.sources import check_image_bytes, check_images, expand_sources

PNG = encode(np.full((8, 8, 3), 200, dtype=np.uint8), "PNG")


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"a.jpg": PNG, "b.PNG": PNG, "c.webp": PNG, "d.bmp": PNG, "e.jpeg": PNG},
            ["a.jpg", "b.PNG", "c.webp", "d.bmp", "e.jpeg"],
        ),
        ({"deep/er/a.png": PNG, "top.png": PNG}, ["deep/er/a.png", "top.png"]),
        ({"notes.txt": b"x", "movie.mp4": b"x", "a.png": PNG}, ["a.png"]),
        ({".hidden.png": PNG, ".thumbs/a.png": PNG, "a.png": PNG}, ["a.png"]),
    ],
    ids=["every image suffix, any case", "recursive, sorted", "other files ignored", "hidden files skipped"],
)
def test_a_folder_contributes_its_image_files(tmp_path: Path, files: dict[str, bytes], expected: list[str]) -> None:
    found, problems = expand_sources([_tree(tmp_path / "refs", files)])

    assert [p.relative_to(tmp_path / "refs").as_posix() for p in found] == expected and problems == []


def test_files_keep_the_given_order_and_count_once(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"refs/a.png": PNG, "refs/b.png": PNG, "z.png": PNG})

    found, _ = expand_sources([root / "z.png", root / "refs", root / "refs" / "a.png"])

    assert [p.name for p in found] == ["z.png", "a.png", "b.png"]


def test_every_bad_file_and_empty_folder_is_reported_at_once(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"good.png": PNG, "text.jpg": b"hello", "cut.png": PNG[:40], "empty/readme.txt": b""})

    with pytest.raises(ImagesRejectedError) as refused:
        check_images([root / "good.png", root / "text.jpg", root / "cut.png", root / "empty", root / "gone.png"])

    problems = [(Path(p.source).name, p.code) for p in refused.value.problems]
    assert problems == [
        ("empty", "empty_folder"),
        ("text.jpg", "unsupported_image_type"),
        ("cut.png", "corrupt_image"),
        ("gone.png", "unreadable_file"),
    ]
    assert refused.value.message.startswith("4 of 5 files refused, nothing stored:")


def test_checked_images_keep_the_bytes_read_and_their_hash(tmp_path: Path) -> None:
    path = _tree(tmp_path, {"a.png": PNG}) / "a.png"

    [checked] = check_images([path])
    path.write_bytes(b"changed later")

    assert checked.data == PNG and checked.media_type == "image/png" and (checked.width, checked.height) == (8, 8)
    assert checked == check_image_bytes(str(path), PNG)


def test_the_number_of_files_is_known_before_the_first_is_checked(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a/1.png": PNG, "a/2.png": PNG, "b.png": PNG})
    events: list[str] = []

    check_images(
        [root / "a", root / "b.png"],
        on_total=lambda n: events.append(f"total {n}"),
        on_file=lambda path: events.append(path.name),
    )

    assert events == ["total 3", "1.png", "2.png", "b.png"]

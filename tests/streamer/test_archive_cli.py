"""``vigil search IMAGE``, run in-process as the console script runs, over a real archive and the real model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from streamer.archive.keyframes import KeyframeArchive
from tests.fixtures.archive import fill_archive
from tests.fixtures.cli import Vigil


@pytest.fixture
def vigil(run_vigil: Vigil, model_cache_dir: Path) -> Vigil:
    """``vigil`` in an empty folder whose ``vigil.yaml`` keeps node data in ``data/`` (the archive: data/archive)."""
    Path("vigil.yaml").write_text(f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n")
    return run_vigil


@pytest.fixture
def archived(tmp_path: Path, pooled_scene_embedder, reference_images) -> dict[int, tuple[str, str]]:
    """Keyframes archived by the default scene model (pooled), the one ``vigil search`` loads."""
    archive = KeyframeArchive(tmp_path / "data" / "archive")
    try:
        return fill_archive(archive, pooled_scene_embedder, reference_images)
    finally:
        archive.close()


@pytest.fixture
def crop(tmp_path: Path, reference_images) -> str:
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), cv2.cvtColor(reference_images["astronaut"][20:380, 80:440], cv2.COLOR_RGB2BGR))
    return str(path)


def test_search_prints_the_camera_s_keyframes_like_the_image_best_first(vigil: Vigil, archived, crop: str) -> None:
    code, out, err = vigil("search", crop, "--camera", "gate", "--since", "2026-11-24T08:00:00Z", "--json")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert [archived[r["id"]] for r in results] == [("gate", "astronaut"), ("gate", "chelsea")]
    assert results[0]["score"] > results[1]["score"] and Path(results[0]["thumbnail"]).is_file()

    code, out, err = vigil("search", crop, "--top-k", "1")
    assert code == 0, err
    rows = [line for line in out.splitlines() if "data/archive/" in line]
    assert len(rows) == 1, out
    assert ("lobby" in rows[0] and "2026-11-24 08:10:00" in rows[0]) or (
        "gate" in rows[0] and "2026-11-24 08:30:00" in rows[0]
    ), out  # one of the two astronaut keyframes


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--since", "yesterday"], 2, "--since: not an ISO 8601 time"),
        (["--until", "2026-13-01"], 2, "--until: not an ISO 8601 time"),
        (["--top-k", "0"], 2, "--top-k"),
    ],
)
def test_bad_options_exit_2_naming_the_option(vigil: Vigil, archived, crop: str, args, code, message) -> None:
    result = vigil("search", crop, *args)
    assert result[0] == code and message in result[2]


def test_a_node_without_an_archive_exits_1(vigil: Vigil, crop: str) -> None:
    code, _, err = vigil("search", crop)
    assert code == 1 and "no keyframe archive yet" in err
    assert not Path("data/archive").exists()  # searching does not create one

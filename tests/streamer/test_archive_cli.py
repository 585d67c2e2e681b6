"""``vigil search IMAGE``, run in-process as the console script runs, over a real archive and the real model."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from streamer.archive.keyframes import KeyframeArchive
from streamer.cli import main
from tests.fixtures.archive import fill_archive

Vigil = Callable[..., tuple[int, str, str]]


@pytest.fixture
def vigil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, model_cache_dir: Path) -> Iterator[Vigil]:
    """``vigil`` in an empty folder whose ``vigil.yaml`` keeps node data in ``data/`` (the archive: data/archive)."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("VIGIL_")]:
        monkeypatch.delenv(key)
    Path("vigil.yaml").write_text(f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n")
    root = logging.getLogger()
    saved = root.handlers[:], root.level  # the CLI installs its own log handler on stderr

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["vigil", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.fixture
def archived(tmp_path: Path, scene_embedder, reference_images) -> dict[int, tuple[str, str]]:
    archive = KeyframeArchive(tmp_path / "data" / "archive")
    try:
        return fill_archive(archive, scene_embedder, reference_images)
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

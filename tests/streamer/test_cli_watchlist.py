"""``vigil watchlist``: exit codes, nothing written on bad input, and a full add / list / show / remove cycle."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engines.scene import SceneEmbedder
from streamer.cli import main
from tests.watchlists.samples import write_reference_files

DATABASE = Path("data/watchlist.db")  # relative to the test's working folder, as in the default config


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Vigil = Callable[..., Result]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, reference_images: dict[str, np.ndarray]) -> dict[str, Path]:
    return write_reference_files(tmp_path_factory.mktemp("photos"), reference_images)


@pytest.fixture
def vigil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model_cache_dir: Path
) -> Iterator[Vigil]:
    """Run ``vigil`` in-process, as the console script does, in an empty folder holding a ``vigil.yaml``."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("VIGIL_")]:
        monkeypatch.delenv(key)
    Path("vigil.yaml").write_text(
        f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n"
        f"watchlist: {{database: {DATABASE}}}\n"
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level  # the CLI installs its own log handler on stderr

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["vigil", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield run
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "face", "--label", "jane", "{astronaut}"], 1, "face pipeline"),
        (["--kind", "anomaly", "--label", "x", "{astronaut}", "{text}", "{missing}"], 1, "2 of 5 files refused"),
        (["--kind", "anomaly", "--label", "x", "--threshold", "1.5", "{coffee}"], 2, "threshold"),
        (["--kind", "anomaly", "--label", " ", "{coffee}"], 2, "label"),
        (["--kind", "anomaly", "--label", "x", "--camera", "a/b", "{coffee}"], 2, "camera"),
        (["--kind", "fire", "--label", "x", "{coffee}"], 2, "--kind"),
        (["--kind", "anomaly", "--label", "x"], 2, "Missing argument"),
        (
            ["-c", "{bad_config}", "--kind", "anomaly", "--label", "x", "{coffee}"],
            2,
            "watchlist.databse: unknown field",
        ),
        (["-c", "{postgres_config}", "--kind", "anomaly", "--label", "x", "{coffee}"], 2, "watchlist.database"),
    ],
    ids=[
        "face",
        "bad images",
        "threshold",
        "empty label",
        "camera name",
        "unknown kind",
        "no images",
        "config typo",
        "postgresql",
    ],
)
def test_refused_additions_exit_non_zero_with_the_reason_and_write_nothing(
    vigil: Vigil, photos: dict[str, Path], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    names = {name: str(path) for name, path in photos.items()}
    names["text"], names["missing"] = str(tmp_path / "text.jpg"), str(tmp_path / "missing.png")
    Path(names["text"]).write_text("not an image")
    names["bad_config"], names["postgres_config"] = str(tmp_path / "bad.yaml"), str(tmp_path / "pg.yaml")
    Path(names["bad_config"]).write_text("watchlist: {databse: other.db}\n")
    Path(names["postgres_config"]).write_text("watchlist: {database: 'postgresql://db/vigil'}\n")

    result = vigil("watchlist", "add", *[a.format(**names) for a in args])

    assert (result.code, message in result.err) == (code, True), result.err
    assert not DATABASE.exists()


def test_bad_images_are_each_named_with_their_reason(vigil: Vigil, photos: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not an image")

    result = vigil(
        "watchlist", "add", "--kind", "anomaly", "--label", "x", str(photos["coffee"]), "notes.jpg", "gone.png"
    )

    assert result.code == 1
    assert "notes.jpg: not a JPEG, PNG, WebP or BMP image" in result.err and "unsupported_image_type" in result.err
    assert "gone.png: file not found [unreadable_file]" in result.err


def test_add_list_show_and_remove_an_entry(
    vigil: Vigil, photos: dict[str, Path], scene_embedder: SceneEmbedder
) -> None:
    added = vigil(
        "watchlist",
        "add",
        "-c",
        "vigil.yaml",
        "--kind",
        "anomaly",
        "--label",
        "astronaut",
        "--camera",
        "lobby",
        "--threshold",
        "0.8",
        "--actor",
        "alice",
        str(photos["astronaut"]),
        "--json",
    )
    assert added.code == 0, added.err
    report = json.loads(added.out)
    entry_id = report["entry"]["id"]
    assert len(report["added"]) == 3 and report["model_version"] == scene_embedder.version

    listed = json.loads(vigil("watchlist", "list", "--json").out)
    assert [(e["id"], e["label"], e["threshold"], e["cameras"], e["image_count"]) for e in listed] == [
        (entry_id, "astronaut", 0.8, ["lobby"], 3)
    ]

    shown = vigil("watchlist", "show", entry_id[:8], "--json")
    details = json.loads(shown.out)
    assert shown.code == 0 and len(details["images"]) == 3
    assert [(a["action"], a["actor"]) for a in details["audit"]] == [("entry.created", "alice")]
    assert "astronaut" in vigil("watchlist", "show", entry_id).out

    removed = vigil("watchlist", "remove", entry_id, "--actor", "bob")
    assert removed.code == 0 and f"removed {entry_id}" in removed.out
    assert vigil("watchlist", "show", entry_id).code == 1
    assert json.loads(vigil("watchlist", "list", "--json").out) == []


def test_adding_only_images_already_stored_fails_and_names_their_entry(vigil: Vigil, photos: dict[str, Path]) -> None:
    first = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee", str(photos["coffee"]))
    entry_id = first.out.split()[1]

    again = vigil("watchlist", "add", "--kind", "anomaly", "--label", "coffee 2", str(photos["coffee"]))

    assert first.code == 0 and again.code == 1
    assert f"already in entry {entry_id}" in again.err
    assert len(json.loads(vigil("watchlist", "list", "--json").out)) == 1


def test_listing_without_a_database_shows_nothing_and_creates_nothing(vigil: Vigil) -> None:
    result = vigil("watchlist", "list", "--json")

    assert (result.code, json.loads(result.out)) == (0, [])
    assert not DATABASE.exists()
    assert vigil("watchlist", "show", "abc").code == 1


def test_the_console_script_turns_errors_into_exit_codes(tmp_path: Path, photos: dict[str, Path]) -> None:
    script = Path(sys.executable).parent / "vigil"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    (tmp_path / "bad.yaml").write_text("watchlist: {top_k: 0}\n")

    face = subprocess.run(
        [script, "watchlist", "add", "--kind", "face", "--label", "x", photos["coffee"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    config = subprocess.run(
        [script, "watchlist", "list", "-c", "bad.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (face.returncode, config.returncode) == (1, 2)
    assert "face pipeline" in face.stderr and "watchlist.top_k" in config.stderr

"""``vigil eval DATASET``: the report in the terminal and as JSON, the configured watchlist left alone, and every
unusable dataset refused with exit code 2 and a message that names the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.cli import Vigil
from tests.watchlists.evaluation_samples import write_dataset

DATABASE = Path("data/watchlist.db")  # relative to the test's working folder, as in the default config


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory, reference_images: dict[str, np.ndarray]) -> Path:
    """The four scikit-image photos as labels (a reference and four augmented probes each), astronaut's probes
    plus one mislabelled photo of the coffee cup, and no ``_unknown`` folder."""
    root = write_dataset(tmp_path_factory.mktemp("scenes"), reference_images)
    shutil.copy(root / "coffee" / "2-flip.jpg", root / "astronaut" / "9-mislabelled.jpg")
    return root


@pytest.fixture
def vigil(run_vigil: Vigil, model_cache_dir: Path) -> Vigil:
    """Run ``vigil`` in-process, as the console script does, in an empty folder holding a ``vigil.yaml``."""
    Path("vigil.yaml").write_text(
        f"models: {{backend: onnxruntime, cache_dir: '{model_cache_dir}', threads: 2}}\n"
        f"watchlist: {{database: {DATABASE}, default_threshold: {{face: 0.93, anomaly: 0.7}}}}\n"
    )
    return run_vigil


def test_the_report_names_the_mislabelled_probe_and_is_saved_as_json(vigil: Vigil, scenes: Path) -> None:
    result = vigil("eval", str(scenes), "--kind", "anomaly", "--target-fpr", "0.05", "--output", "report.json")

    assert result.code == 0, result.err
    assert "top-1 accuracy 94.12%" in result.out  # 16 of 17 probes
    assert "astronaut/9-mislabelled.jpg -> coffee" in result.out
    assert "suggested threshold" in result.out and "saved to report.json" in result.out
    report = json.loads(Path("report.json").read_text())
    assert (report["kind"], report["threshold"], report["probes"], report["unknown"]) == ("anomaly", 0.7, 17, 0)
    assert [(row["label"], row["top1_correct"], row["probes"]) for row in report["labels"]] == [
        ("astronaut", 4, 5),
        ("chelsea", 4, 4),
        ("coffee", 4, 4),
        ("rocket", 4, 4),
    ]
    assert not DATABASE.exists()  # references are embedded in memory, never enrolled


def test_face_datasets_go_through_the_face_pipeline_and_count_photos_without_a_face(
    vigil: Vigil, tmp_path: Path, face_photos: dict[str, np.ndarray], reference_images: dict[str, np.ndarray]
) -> None:
    faces = {"astronaut": face_photos["astronaut"], "hopper": face_photos["hopper"]}
    root = write_dataset(tmp_path / "faces", faces, {"coffee": reference_images["coffee"]})

    result = vigil("eval", str(root), "--kind", "face", "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["kind"], report["threshold"], report["model_version"][:15]) == ("face", 0.93, "dlib_resnet128@")
    assert report["rejected"]["by_reason"] == {"no_face_found": 1}
    assert (report["probes"], report["unknown"], report["top1_accuracy"], report["false_accept_rate"]) == (8, 0, 1, 0)


def test_json_output_has_the_documented_shape(vigil: Vigil, scenes: Path) -> None:
    result = vigil("eval", str(scenes), "--kind", "anomaly", "--threshold", "0.5", "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report == json.loads(Path("data/evaluation.json").read_text())
    assert set(report) == {
        "dataset",
        "kind",
        "model_version",
        "threshold",
        "references_per_label",
        "probes",
        "unknown",
        "rejected",
        "top1_accuracy",
        "true_accept_rate",
        "false_accept_rate",
        "unknown_false_accepts",
        "labels",
        "scores",
    }
    assert report["threshold"] == 0.5 and report["model_version"].startswith("mobilenet_v2_pooled@")
    assert report["rejected"] == {"count": 0, "by_reason": {}, "images": []}
    assert set(report["labels"][0]) == {
        "label",
        "references",
        "probes",
        "rejected",
        "top1_correct",
        "top1_accuracy",
        "true_accepts",
        "true_accept_rate",
        "false_accepts",
        "matched_by_others",
        "errors",
    }
    [error] = report["labels"][0]["errors"]
    assert error["source"] == "astronaut/9-mislabelled.jpg" and error["predicted"] == "coffee"
    assert set(report["scores"]) == {"genuine", "impostor", "target_fpr", "suggested_threshold", "rates"}
    assert report["scores"]["genuine"]["pairs"] == 17 and report["scores"]["impostor"]["pairs"] == 17


@pytest.mark.parametrize(
    ("layout", "args", "message"),
    [
        (None, ["--kind", "anomaly"], "is not a folder"),
        ({"alice": 2}, ["--kind", "anomaly"], "needs at least 2 label folders to tell apart, found alice"),
        ({"alice": 2, "bob": 1}, ["--kind", "anomaly"], "no probe left: bob (1 image)"),
        ({"alice": 2, "bob": 2}, ["--kind", "anomaly", "--references", "0"], "--references"),
        ({"alice": 2, "bob": 2}, [], "--kind"),
        ({"alice": 2, "bob": 2}, ["--kind", "fire"], "--kind"),
        ({"alice": 2, "bob": 2}, ["--kind", "anomaly", "--threshold", "2"], "--threshold"),
    ],
    ids=["missing", "one label", "label without probe", "no references", "no kind", "unknown kind", "threshold"],
)
def test_unusable_datasets_and_options_exit_2_naming_the_problem(
    vigil: Vigil, tmp_path: Path, layout: dict[str, int] | None, args: list[str], message: str
) -> None:
    for label, count in (layout or {}).items():
        (tmp_path / "dataset" / label).mkdir(parents=True)
        for number in range(count):
            (tmp_path / "dataset" / label / f"{number}.jpg").write_bytes(b"never read")

    result = vigil("eval", str(tmp_path / "dataset"), *args)

    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert not Path("data/evaluation.json").exists() and not DATABASE.exists()


def test_a_model_that_cannot_load_exits_1_and_saves_no_report(vigil: Vigil, scenes: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    Path("broken.yaml").write_text(f"models: {{backend: onnxruntime, cache_dir: '{tmp_path / 'a-file' / 'models'}'}}\n")

    result = vigil("eval", str(scenes), "--kind", "anomaly", "-c", "broken.yaml")

    assert result.code == 1
    assert "cannot create model cache" in result.err
    assert not Path("data/evaluation.json").exists()

"""``vigil models list | export | build``: tables and messages over the real cache; exit codes from error types.

Lives beside the engine tests because it exercises the engine cache; the command module is streamer/cli/models.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engines.backends import backend_unavailable_reason
from engines.export import exported_model_path
from engines.registry import MODELS
from engines.scene import SceneEmbedder
from streamer.cli.models import models_app

MOBILENET = MODELS["mobilenet_v2"]


@pytest.fixture()
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run where no ``vigil.yaml`` or ``VIGIL_*`` setting can leak in from the developer's environment."""
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("VIGIL_")]:
        monkeypatch.delenv(key)
    return tmp_path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(models_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_version_size_and_the_cached_export(
    scene_embedder: SceneEmbedder, model_cache_dir: Path, in_empty_folder: Path
) -> None:
    output = _invoke("list", "--cache-dir", str(model_cache_dir))

    row = next(line for line in output.splitlines() if "mobilenet_v2@" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == [
        "mobilenet_v2",
        "scene",
        MOBILENET.version,
        "1280",
        "224x224",
        "yes",
        str(exported_model_path(MOBILENET, model_cache_dir)),
    ]


def test_list_takes_the_cache_folder_from_the_config_file_and_reports_a_missing_export(
    in_empty_folder: Path,
) -> None:
    empty_cache = in_empty_folder / "no-exports-here"
    (in_empty_folder / "vigil.yaml").write_text(f"models: {{cache_dir: {empty_cache}}}\n")

    output = _invoke("list")

    assert f"Models (cache: {empty_cache})" in output
    assert "│ no " in output
    assert not empty_cache.exists()


def test_export_of_a_cached_model_says_so_and_prints_its_path(
    scene_embedder: SceneEmbedder, model_cache_dir: Path, in_empty_folder: Path
) -> None:
    output = _invoke("export", "mobilenet_v2", "--cache-dir", str(model_cache_dir))

    assert output.strip() == (
        f"{MOBILENET.version}: already cached -> {exported_model_path(MOBILENET, model_cache_dir)}"
    )


def test_build_creates_the_configured_backend_once(
    scene_embedder: SceneEmbedder, model_cache_dir: Path, in_empty_folder: Path
) -> None:
    output = _invoke("build", "--cache-dir", str(model_cache_dir))

    assert output.startswith(f"{MOBILENET.version}: built on onnxruntime in ")


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["models", "list"], 0, "mobilenet_v2@"),
        (["models", "export", "resnet9000"], 2, "unknown model 'resnet9000'; known: "),
        (["models", "build", "--backend", "openvino"], 2, "unknown backend 'openvino'"),
        (["models", "build", "mobilenet_v2", "--backend", "torch"], 0, "built on torch in "),
        pytest.param(
            ["models", "build", "--backend", "tensorrt"],
            1,
            "backend 'tensorrt' is not available: ",
            marks=pytest.mark.skipif(backend_unavailable_reason("tensorrt") is None, reason="TensorRT is usable here"),
        ),
    ],
    ids=["list-ok", "unknown-model", "unknown-backend", "torch", "unavailable-backend"],
)
def test_the_vigil_command_exits_with_the_code_of_its_error(
    scene_embedder: SceneEmbedder,
    model_cache_dir: Path,
    in_empty_folder: Path,
    args: list[str],
    exit_code: int,
    message: str,
) -> None:
    vigil = Path(sys.executable).parent / "vigil"
    env = {**os.environ, "VIGIL_CACHE_DIR": str(model_cache_dir), "COLUMNS": "200"}

    result = subprocess.run([vigil, *args], cwd=in_empty_folder, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == exit_code, result.stderr
    assert message in (result.stdout + result.stderr)

"""ONNX export: faithful to PyTorch, cached by version, atomic and safe under concurrent exporters."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest

from engines.errors import EngineError
from engines.export import OPSET, export_model, exported_model_path, resolve_cache_dir
from engines.registry import MODELS
from engines.scene import SceneEmbedder

MOBILENET = MODELS["mobilenet_v2"]
REPO = Path(__file__).resolve().parents[2]


def _python(code: str) -> subprocess.Popen[str]:
    """Start the project's Python on ``code`` (a separate process, as a second node or CLI would be)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out.strip()


def test_onnx_export_matches_the_pytorch_fp32_network_on_real_photos(
    scene_embedder: SceneEmbedder, torch_scene_network, reference_images: dict[str, np.ndarray]
) -> None:
    import torch

    images = list(reference_images.values())
    with torch.no_grad():
        reference = torch_scene_network(torch.from_numpy(scene_embedder.preprocess(images))).numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)

    cosines = np.sum(scene_embedder.embed(images) * reference, axis=1)

    assert cosines.min() >= 0.999, dict(zip(reference_images, cosines.round(6), strict=True))


def test_the_export_is_valid_onnx_at_the_pinned_opset_with_a_dynamic_batch_axis(
    scene_embedder: SceneEmbedder, model_cache_dir: Path
) -> None:
    model = onnx.load(str(exported_model_path(MOBILENET, model_cache_dir)))

    onnx.checker.check_model(model, full_check=True)
    assert {entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")} == {OPSET}
    batch_axis = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param and not batch_axis.HasField("dim_value")


def test_a_second_export_is_a_cache_hit_that_neither_rewrites_the_file_nor_imports_torch(
    scene_embedder: SceneEmbedder, model_cache_dir: Path
) -> None:
    path = exported_model_path(MOBILENET, model_cache_dir)
    before = path.stat()

    child = _python(
        f"""
        import sys
        from engines.export import export_model
        from engines.registry import MODELS
        print(export_model(MODELS["mobilenet_v2"], {str(model_cache_dir)!r}))
        print("torch" in sys.modules)
        """
    )

    assert _finish(child).splitlines() == [str(path), "False"]
    assert export_model(MOBILENET, model_cache_dir) == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_changed_version_exports_to_a_new_file_beside_the_old_one(
    scene_embedder: SceneEmbedder, model_cache_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(exported_model_path(MOBILENET, model_cache_dir), tmp_path)  # a cache filled by copying is valid
    changed = dataclasses.replace(MOBILENET, mean=(127.5, 127.5, 127.5))

    new_path = export_model(changed, tmp_path, show_progress=False)

    assert new_path != exported_model_path(MOBILENET, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == sorted(
        [new_path.name, exported_model_path(MOBILENET, tmp_path).name]
    )
    assert changed.version.split("@")[1] in new_path.name
    onnx.checker.check_model(str(new_path))


def test_two_processes_exporting_into_an_empty_cache_leave_one_valid_file_and_no_temporaries(tmp_path: Path) -> None:
    code = f"""
        from engines.export import export_model
        from engines.registry import MODELS
        print(export_model(MODELS["mobilenet_v2"], {str(tmp_path)!r}, show_progress=False))
        """
    first, second = _python(code), _python(code)

    (path,) = {Path(_finish(first, timeout=300)), Path(_finish(second, timeout=300))}

    assert path == exported_model_path(MOBILENET, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [path.name]
    onnx.checker.check_model(str(path), full_check=True)


def test_a_failed_export_raises_an_engine_error_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "vigil_untraceable_network.py").write_text(
        textwrap.dedent(
            """
            import torch

            class Untraceable(torch.nn.Module):
                def forward(self, images):
                    raise RuntimeError("this network cannot be traced")

            def build(spec):
                return Untraceable()
            """
        )
    )
    spec = dataclasses.replace(MOBILENET, network="vigil_untraceable_network:build")
    cache = tmp_path / "cache"

    with pytest.raises(EngineError, match="ONNX export of mobilenet_v2 failed") as caught:
        export_model(spec, cache, show_progress=False)

    assert caught.value.code == "export_failed"
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        ("/srv/models", "/env/models", "/srv/models"),
        (None, "/env/models", "/env/models"),
        (None, None, "~/.cache/vigil/models"),
        ("~/models", None, "~/models"),
    ],
    ids=["argument-wins", "env-next", "default", "tilde-expanded"],
)
def test_the_cache_folder_comes_from_the_argument_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch, argument: str | None, env: str | None, expected: str
) -> None:
    if env is None:
        monkeypatch.delenv("VIGIL_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("VIGIL_CACHE_DIR", env)

    assert resolve_cache_dir(argument) == Path(expected).expanduser()

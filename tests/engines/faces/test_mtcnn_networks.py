"""MTCNN's nets: the same numbers as facenet-pytorch's modules, and the ONNX exports the same as PyTorch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.export import export_model
from engines.networks.mtcnn import build_onet, build_pnet, build_rnet
from engines.registry import get_model_spec

BUILDERS = {"pnet": build_pnet, "rnet": build_rnet, "onet": build_onet}


def _normalised(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(((image.astype(np.float32) - 127.5) / 128).transpose(2, 0, 1)[None])


@pytest.fixture(scope="module")
def face_inputs(face_photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Real inputs for each net: a whole photo for PNet, face crops at 24 and 48 pixels for RNet and ONet."""
    face = face_photos["astronaut"][60:173, 179:267]
    background = face_photos["astronaut"][300:413, 20:108]
    crops = {
        side: np.vstack([_normalised(cv2.resize(c, (side, side))) for c in (face, background)]) for side in (24, 48)
    }
    return {"pnet": _normalised(cv2.resize(face_photos["hopper"], (171, 200))), "rnet": crops[24], "onet": crops[48]}


@pytest.mark.parametrize("stage", ["pnet", "rnet", "onet"])
def test_each_net_reproduces_facenet_pytorchs_module(stage: str, face_inputs: dict[str, np.ndarray]) -> None:
    import torch
    from facenet_pytorch.models import mtcnn as reference

    theirs = getattr(reference, stage.upper().replace("NET", "Net"))(pretrained=True).eval()
    ours = BUILDERS[stage](get_model_spec(f"mtcnn_{stage}"))
    batch = torch.from_numpy(face_inputs[stage])

    with torch.no_grad():
        expected = theirs(batch)
        got = ours(batch)

    offsets, probabilities = expected[0], expected[-1]
    torch.testing.assert_close(got[:, :4], offsets, rtol=0, atol=1e-6)
    torch.testing.assert_close(got[:, -1], probabilities[:, 1], rtol=0, atol=1e-6)
    if stage == "onet":
        torch.testing.assert_close(got[:, 4:14], expected[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("stage", ["pnet", "rnet", "onet"])
def test_each_onnx_export_matches_pytorch_on_real_inputs(
    stage: str, face_inputs: dict[str, np.ndarray], model_cache_dir: Path
) -> None:
    import torch

    spec = get_model_spec(f"mtcnn_{stage}")
    runtime = OnnxRuntimeBackend(export_model(spec, model_cache_dir, show_progress=False), threads=2)
    with torch.no_grad():
        expected = BUILDERS[stage](spec)(torch.from_numpy(face_inputs[stage])).numpy()

    np.testing.assert_allclose(runtime.run(face_inputs[stage]), expected, rtol=0, atol=1e-5)


def test_the_pnet_export_takes_any_image_size_and_returns_a_map_that_follows_it(model_cache_dir: Path) -> None:
    spec = get_model_spec("mtcnn_pnet")
    path = export_model(spec, model_cache_dir, show_progress=False)
    runtime = OnnxRuntimeBackend(path, threads=2)

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    shapes = {
        size: runtime.run(np.zeros((1, 3, *size), np.float32)).shape for size in [(12, 12), (97, 240), (360, 640)]
    }

    assert [bool(dim.dim_param) for dim in dims] == [True, False, True, True]
    assert shapes == {(12, 12): (1, 5, 1, 1), (97, 240): (1, 5, 44, 115), (360, 640): (1, 5, 175, 315)}

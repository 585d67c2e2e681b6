"""MTCNN's three networks (PNet, RNet, ONet) with the weights that ship in facenet-pytorch.

The layer layout is facenet-pytorch's (its ``.pt`` files are plain state dicts for it), written out here so that
exporting needs only torch: importing ``facenet_pytorch`` would also pull in torchvision, requests and tqdm.

Each network returns *one* tensor, its outputs concatenated along the channel axis, because the export writes one
output per model and the detector reads one array per stage:

- PNet, fully convolutional, exported with dynamic height and width: ``(N, 5, h, w)`` = 4 box offsets, face prob.
- RNet on 24x24 crops: ``(N, 5)`` = 4 box offsets, face probability.
- ONet on 48x48 crops: ``(N, 15)`` = 4 box offsets, 5 landmark x then 5 landmark y (relative), face probability.

Inputs are RGB ``(pixel - 127.5) / 128`` (the specs' mean and std), as the weights were trained.
"""

from __future__ import annotations

import torch
from torch import nn

from engines.errors import EngineError
from engines.registry import ModelSpec


def _conv_prelu(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel), nn.PReLU(out_channels)]


class PNet(nn.Module):
    """Proposal net: a 12x12 window classifier slid over the image with stride 2 (one output cell per window)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 10, 3)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(10, 16, 3)
        self.conv3, self.prelu3 = _conv_prelu(16, 32, 3)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 5, h, w): box offsets and face probability per 12x12 window."""
        features = self.prelu1(self.conv1(images))
        features = self.prelu3(self.conv3(self.prelu2(self.conv2(self.pool1(features)))))
        face = torch.softmax(self.conv4_1(features), dim=1)[:, 1:2]
        return torch.cat([self.conv4_2(features), face], dim=1)


class RNet(nn.Module):
    """Refinement net: scores and refines each PNet proposal, cropped to 24x24."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 28, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(28, 48, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv_prelu(48, 64, 2)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, 3, 24, 24) -> (N, 5): box offsets and face probability."""
        features = self.pool1(self.prelu1(self.conv1(crops)))
        features = self.prelu3(self.conv3(self.pool2(self.prelu2(self.conv2(features)))))
        # The weights came from Caffe via TensorFlow: the dense layer reads the map transposed (N, W, H, C).
        features = self.prelu4(self.dense4(features.permute(0, 3, 2, 1).flatten(1)))
        face = torch.softmax(self.dense5_1(features), dim=1)[:, 1:2]
        return torch.cat([self.dense5_2(features), face], dim=1)


class ONet(nn.Module):
    """Output net: final score, box refinement and five landmarks for each RNet survivor, cropped to 48x48."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 32, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(32, 64, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv_prelu(64, 64, 3)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = _conv_prelu(64, 128, 2)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, 3, 48, 48) -> (N, 15): box offsets, landmarks (x1..x5, y1..y5 relative to the box), probability."""
        features = self.pool1(self.prelu1(self.conv1(crops)))
        features = self.pool2(self.prelu2(self.conv2(features)))
        features = self.prelu4(self.conv4(self.pool3(self.prelu3(self.conv3(features)))))
        features = self.prelu5(self.dense5(features.permute(0, 3, 2, 1).flatten(1)))
        face = torch.softmax(self.dense6_1(features), dim=1)[:, 1:2]
        return torch.cat([self.dense6_2(features), self.dense6_3(features), face], dim=1)


def _load(network: nn.Module, spec: ModelSpec) -> nn.Module:
    """Load the spec's state dict strictly (every tensor present, every shape right)."""
    path = spec.weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise EngineError(f"weights {path} do not fit {spec.name}: {exc}", code="export_failed") from None
    return network.eval()


def build_pnet(spec: ModelSpec) -> nn.Module:
    """PNet with facenet-pytorch's ``pnet.pt``.

    Raises:
        EngineError: ``weights_missing``, or ``export_failed`` when the file does not fit the network.
    """
    return _load(PNet(), spec)


def build_rnet(spec: ModelSpec) -> nn.Module:
    """RNet with facenet-pytorch's ``rnet.pt`` (errors as ``build_pnet``)."""
    return _load(RNet(), spec)


def build_onet(spec: ModelSpec) -> nn.Module:
    """ONet with facenet-pytorch's ``onet.pt`` (errors as ``build_pnet``)."""
    return _load(ONet(), spec)

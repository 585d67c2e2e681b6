"""dlib's ResNet face embedder (``dlib_face_recognition_resnet_model_v1.dat``) rebuilt in PyTorch from dlib's file.

dlib serialises parameters, not wiring: ``engines.networks.dlib_format`` reads the file into a sequence of layers,
each with its settings and weights. The wiring is that of dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 stem and
3x3/2 max-pool, residual blocks of two 3x3 convolutions, down-sampling blocks whose shortcut is a 2x2/2 average
pool, a global average pool and a 256->128 linear layer. Block boundaries are read from the layer sequence itself
(``add_prev`` closes a block, an ``avg_pool`` before it marks a down-sampling one), and the result is checked
against that architecture.

Two dlib behaviours are copied exactly, because leaving either out changes every descriptor:

- Where a residual adds tensors of different shapes, dlib zero-pads each to the larger one (top-left aligned):
  the shortcut's channels at every down-sampling block, and the main path's rows and columns in the last two stages
  (3x3 + 4x4 and 1x1 + 2x2: its 3x3/2 convolutions have no padding, its 2x2 pools round differently). The amounts are
  computed here once for the fixed 150x150 input, and neither padding becomes a ``Pad`` node (see ``_ResidualBlock``).
- Every ``affine`` layer (dlib's frozen batch norm: per-channel scale and shift) follows a convolution; it is folded
  into that convolution's weights and bias, which is exact in real arithmetic and saves 29 graph nodes.

Input (see the ``dlib_resnet128`` spec): RGB ``(pixel - (122.782, 117.001, 104.298)) / 256``, read from the file
too and checked. Output: 128 floats, *not* L2-normalised (dlib's 0.6 distance threshold is on these raw vectors).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from engines.errors import EngineError
from engines.networks.dlib_format import DlibLayer, read_dlib_network
from engines.registry import ModelSpec

INPUT_SIDE = 150
EXPECTED_CONVOLUTIONS = 29
EXPECTED_PARAMETERS = 5_614_592


class _PadEnd(torch.autograd.Function):
    """Zero rows and columns appended at the bottom and right, exported as a 1x1 identity ``Conv`` with end pads.

    Why not ``Pad``: ONNX Runtime's CPU path runs this network in a channel-blocked layout (NCHWc) from layer to
    layer and fuses each residual ``Add`` and ``ReLU`` into the convolution before it, but it has no blocked ``Pad``.
    One ``Pad`` sends every later block back to plain NCHW: two layout copies and an unfused Add and ReLU per block,
    about 5% of a batch's time. A convolution's pads are zeros too, and identity weights make it exact (each output
    is ``1 * x`` plus zeros); it costs 0.3% more multiply-adds. Eager PyTorch pads directly.
    """

    @staticmethod
    def forward(ctx: object, features: torch.Tensor, channels: int, amount: int) -> torch.Tensor:
        """Pad in PyTorch (eager runs and tracing)."""
        return functional.pad(features, (0, amount, 0, amount))

    @staticmethod
    def symbolic(graph: object, features: object, channels: int, amount: int) -> object:
        """The ONNX node: Conv with an identity (channels, channels, 1, 1) kernel, pads (0, 0, amount, amount)."""
        identity = torch.eye(channels, dtype=torch.float32).reshape(channels, channels, 1, 1)
        weights = graph.op("Constant", value_t=identity)  # type: ignore[attr-defined]
        return graph.op("Conv", features, weights, kernel_shape_i=[1, 1], pads_i=[0, 0, amount, amount])  # type: ignore[attr-defined]


class _ResidualBlock(nn.Module):
    """Two 3x3 convolutions (affines folded in) plus the shortcut, added the way dlib adds them.

    dlib zero-pads the smaller operand to the common shape; here neither padding is a tensor operation:

    - The shortcut's missing channels: adding zeros leaves the main path's upper channels as they are, so the second
      convolution is split at the shortcut's channel count, the shortcut is added to the lower part only, and the
      two parts are concatenated. Same arithmetic per channel, no zeros materialised.
    - The main path's missing rows and columns (last two stages): ``_PadEnd``.
    """

    def __init__(
        self, first: nn.Conv2d, second: nn.Conv2d, pool: DlibLayer | None, shortcut_channels: int, pad: int
    ) -> None:
        super().__init__()
        self.first = first
        self.seconds = nn.ModuleList(_split_outputs(second, shortcut_channels))
        self.pool = (pool.shape[0], pool.stride) if pool is not None else None
        self.pad = pad

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """relu(main + shortcut), where the shortcut is the input, average-pooled in a down-sampling block."""
        hidden = functional.relu(self.first(features))
        shortcut = features if self.pool is None else functional.avg_pool2d(features, *self.pool)
        parts = []
        for index, second in enumerate(self.seconds):
            part = second(hidden)
            if self.pad:
                part = _PadEnd.apply(part, second.out_channels, self.pad)
            parts.append(functional.relu(part + shortcut if index == 0 else part))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _split_outputs(conv: nn.Conv2d, channels: int) -> list[nn.Conv2d]:
    """``conv`` as one convolution computing output channels ``[0, channels)`` and one computing the rest (or
    ``[conv]`` when it has no more than ``channels``): the same weights, cut along the output axis."""
    if conv.out_channels <= channels:
        return [conv]
    parts = []
    for rows in (slice(0, channels), slice(channels, conv.out_channels)):
        part = nn.Conv2d(conv.in_channels, rows.stop - rows.start, conv.kernel_size, conv.stride, conv.padding)
        part.weight.data = conv.weight.data[rows].clone()
        part.bias.data = conv.bias.data[rows].clone()
        parts.append(part)
    return parts


class DlibResNet(nn.Module):
    """dlib's face ResNet: (N, 3, 150, 150) normalised RGB -> (N, 128) raw descriptors."""

    def __init__(self, layers: list[DlibLayer]) -> None:
        super().__init__()
        kinds = [layer.kind for layer in layers]
        if kinds[:4] != ["con", "affine", "relu", "max_pool"] or kinds[-2:] != ["avg_pool", "fc"]:
            raise ValueError(f"unexpected stem or head: {kinds[:4]} ... {kinds[-2:]}")
        self.stem = _folded_conv(layers[0], layers[1])
        stem_pool = layers[3]
        self.stem_pool = nn.MaxPool2d(stem_pool.shape[0], stem_pool.stride, stem_pool.padding)
        side = _out_side(_out_side(INPUT_SIDE, layers[0]), stem_pool)
        blocks, channels, position = [], layers[0].shape[0], 4
        while kinds[position] == "con":
            block, channels, side, position = _build_block(layers, position, channels, side)
            blocks.append(block)
        self.blocks = nn.Sequential(*blocks)
        fc = layers[-1]
        self.fc = nn.Linear(*fc.shape, bias=False)
        self.fc.weight.data = torch.from_numpy(fc.params.reshape(fc.shape).T.copy())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images in, raw 128-d descriptors out."""
        features = self.blocks(self.stem_pool(functional.relu(self.stem(images))))
        return self.fc(features.mean(dim=(2, 3)))


def _out_side(side: int, layer: DlibLayer) -> int:
    """dlib's (and PyTorch's) output size: 1 + (in + 2 pad - kernel) // stride."""
    return 1 + (side + 2 * layer.padding - layer.shape[-1]) // layer.stride


def _folded_conv(conv: DlibLayer, affine: DlibLayer) -> nn.Conv2d:
    """A conv whose weights and bias absorb the following affine layer: gamma * (w x + b) + beta."""
    if conv.kind != "con" or affine.kind != "affine":
        raise ValueError(f"expected con + affine, got {conv.kind} + {affine.kind}")
    out_channels, in_channels, kernel, _ = conv.shape
    weight = conv.params[:-out_channels].reshape(conv.shape)
    bias = conv.params[-out_channels:]
    gamma, beta = affine.params[:out_channels], affine.params[out_channels:]
    layer = nn.Conv2d(in_channels, out_channels, kernel, conv.stride, conv.padding)
    layer.weight.data = torch.from_numpy((weight * gamma[:, None, None, None]).astype(np.float32))
    layer.bias.data = torch.from_numpy((bias * gamma + beta).astype(np.float32))
    return layer


def _build_block(
    layers: list[DlibLayer], position: int, channels: int, side: int
) -> tuple[_ResidualBlock, int, int, int]:
    """Read one block (con affine relu con affine [avg_pool] add_prev relu) starting at ``position``."""
    first, second = (
        _folded_conv(layers[position], layers[position + 1]),
        _folded_conv(*layers[position + 3 : position + 5]),
    )
    main_channels = second.out_channels
    main_side = _out_side(_out_side(side, layers[position]), layers[position + 3])
    position += 5
    pool, shortcut_side = None, side
    if layers[position].kind == "avg_pool":
        pool, shortcut_side = layers[position], _out_side(side, layers[position])
        position += 1
    if [layer.kind for layer in layers[position : position + 2]] != ["add_prev", "relu"]:
        raise ValueError(f"block at layer {position} does not end with add_prev + relu")
    if main_channels < channels or main_side > shortcut_side:
        raise ValueError(
            f"block at layer {position}: main path {main_channels}x{main_side}x{main_side}, shortcut "
            f"{channels}x{shortcut_side}x{shortcut_side}; dlib's network only ever pads the shortcut's channels and "
            f"the main path's rows and columns"
        )
    block = _ResidualBlock(first, second, pool, channels, shortcut_side - main_side)
    return block, main_channels, shortcut_side, position + 2


def build_dlib_resnet128(spec: ModelSpec) -> nn.Module:
    """Read the spec's ``.dat`` file and build the network, checked against dlib's architecture and the spec.

    Raises:
        EngineError: ``weights_missing``, or ``export_failed`` when the file is not the network expected.
    """
    path = spec.weights_path()
    try:
        means, layers = read_dlib_network(path)
        network = DlibResNet(layers)
    except (ValueError, IndexError) as exc:
        raise EngineError(f"cannot read dlib network {path}: {exc}", code="export_failed") from None
    convolutions = sum(layer.kind == "con" for layer in layers)
    parameters = sum(layer.params.size for layer in layers if layer.params is not None)
    if (convolutions, parameters) != (EXPECTED_CONVOLUTIONS, EXPECTED_PARAMETERS):
        raise EngineError(
            f"{path} holds {convolutions} convolutions and {parameters} parameters, expected "
            f"{EXPECTED_CONVOLUTIONS} and {EXPECTED_PARAMETERS}",
            code="export_failed",
        )
    if not np.allclose(means, spec.mean, atol=1e-3) or spec.input_size != (INPUT_SIDE, INPUT_SIDE):
        raise EngineError(
            f"{path} expects {INPUT_SIDE}x{INPUT_SIDE} input with RGB means {means}; the spec says "
            f"{spec.input_size} and {spec.mean}",
            code="export_failed",
        )
    return network.eval()

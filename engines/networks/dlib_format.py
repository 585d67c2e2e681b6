"""dlib's serialised DNN files (``.dat``), read into plain layers: kind, settings, float32 parameters.

dlib writes a network as nested layers, outermost first in a header and then from the input up, each as its name
(``con_4``, ``affine_``, ``relu_``, ``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2``) followed by its
settings and parameters, then a little bookkeeping (flags and empty gradient tensors). Its primitives: an integer
is a control byte (low nibble: byte count, 0x80: negative) then that many little-endian bytes; a loose float is an
integer mantissa then an integer exponent of two; a tensor is a version (2), four dimensions, then raw
little-endian float32 values. Wiring (which layer feeds which) is not stored: ``engines.networks.dlib_resnet``
rebuilds it. No torch here: reading the file is plain NumPy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LAYER_NAME = re.compile(rb"(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2|input_rgb_image_sized)")
_STRAY_NAME = re.compile(rb"[a-z_]{5,}")


@dataclass(frozen=True)
class DlibLayer:
    """One serialised layer: its kind, settings and (for ``con``, ``affine``, ``fc``) its float32 parameters.

    Attributes:
        kind: ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev`` or ``fc``.
        params: flat parameters as stored (conv: OIHW filters then biases; affine: scales then shifts; fc: in x out).
        shape: conv ``(out, in, kernel_h, kernel_w)``; pools ``(kernel_h, kernel_w)`` (0, 0 = global); fc ``(in, out)``.
        stride: pools and convolutions.
        padding: pools and convolutions.
    """

    kind: str
    params: np.ndarray | None = None
    shape: tuple[int, ...] = ()
    stride: int = 1
    padding: int = 0


class _DlibReader:
    """dlib's serialisation primitives over a byte buffer, from a given position."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def integer(self) -> int:
        """A control byte (low nibble: byte count, 0x80: negative), then that many little-endian bytes."""
        control = self.data[self.position]
        count = control & 0x0F
        value = int.from_bytes(self.data[self.position + 1 : self.position + 1 + count], "little")
        self.position += 1 + count
        return -value if control & 0x80 else value

    def real(self) -> float:
        """A loose float: integer mantissa, then integer exponent of two."""
        mantissa = self.integer()
        return float(np.ldexp(float(mantissa), self.integer()))

    def text(self) -> str:
        length = self.integer()
        value = self.data[self.position : self.position + length]
        self.position += length
        return value.decode("ascii")

    def tensor(self) -> np.ndarray:
        """Version 2 tensors: four dimensions, then raw little-endian float32 values."""
        version = self.integer()
        if version != 2:
            raise ValueError(f"tensor version {version} at byte {self.position}, expected 2")
        count = int(np.prod([self.integer() for _ in range(4)]))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.position).astype(np.float32)
        self.position += 4 * count
        return values


def _read_layer(reader: _DlibReader, name: str) -> DlibLayer | tuple[float, float, float]:
    """Read the layer whose name ``reader`` stands on; the input layer gives its per-channel RGB means."""
    if name == "input_rgb_image_sized":
        return (reader.real(), reader.real(), reader.real())
    if name == "con_4":
        params = reader.tensor()
        filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
        if stride_y != stride_x or pad_y != pad_x or rows != cols:
            raise ValueError(f"non-square convolution at byte {reader.position}")
        inputs = (len(params) - filters) // (filters * rows * cols)
        return DlibLayer("con", params, (filters, inputs, rows, cols), stride_y, pad_y)
    if name == "affine_":
        return DlibLayer("affine", reader.tensor())
    if name in ("max_pool_2", "avg_pool_2"):
        rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(6))
        if stride_y != stride_x or pad_y != pad_x or rows != cols:
            raise ValueError(f"non-square pooling at byte {reader.position}")
        return DlibLayer(name.partition("_pool")[0] + "_pool", None, (rows, cols), stride_y, pad_y)
    if name == "fc_2":
        outputs, inputs = reader.integer(), reader.integer()
        return DlibLayer("fc", reader.tensor(), (inputs, outputs))
    return DlibLayer("relu" if name == "relu_" else "add_prev")


def read_dlib_network(path: Path) -> tuple[tuple[float, float, float], list[DlibLayer]]:
    """Parse dlib's file into the input's RGB means and the layers in forward order.

    Each layer name is found by its dlib string (a length, then the name) and parsed from there; the bytes
    between one parsed layer and the next name are dlib's per-layer bookkeeping, which must not hold another name
    (a layer this reader does not know would otherwise be skipped silently).

    Raises:
        ValueError: the file is not the network this module knows how to read.
    """
    data = path.read_bytes()
    means: tuple[float, float, float] | None = None
    layers: list[DlibLayer] = []
    end = 0
    for found in _LAYER_NAME.finditer(data):
        start = found.start() - 2
        if start < end or data[start] != 1 or data[start + 1] != len(found.group()):
            continue  # the name's bytes inside parameters: not a layer
        if means is not None and _STRAY_NAME.search(data, end, start):
            raise ValueError(f"unknown layer {_STRAY_NAME.search(data, end, start).group()!r} before byte {start}")
        reader = _DlibReader(data, start)
        layer = _read_layer(reader, reader.text())
        if isinstance(layer, tuple):
            means = layer
        else:
            layers.append(layer)
        end = reader.position
    if means is None:
        raise ValueError("no input_rgb_image_sized layer")
    return means, layers

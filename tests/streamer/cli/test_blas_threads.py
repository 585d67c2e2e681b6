"""The ``vigil`` entry point gives OpenBLAS one thread before numpy loads it (its idle threads spin after a
product and take cores from the networks), unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = (
    "import sys, streamer; assert 'numpy' not in sys.modules, 'numpy loaded before streamer.cli';"
    "import os, streamer.cli; print(os.environ['OPENBLAS_NUM_THREADS'])"
)


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("4", "4")])
def test_openblas_threads_default_to_one_before_numpy_loads(given: str | None, seen: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    env["PYTHONPATH"] = str(ROOT)

    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == seen
